package check

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"knative.dev/serving/pkg/apis/serving"

	"github.com/mskafka/knative-functions/infra/check/platform"
)

// postgres checks the database's Secrets and connection budget against the
// functions.
func (c *checker) postgres() {
	pg := Find[appsv1.StatefulSet](c.objs, "ms-kafka", "postgres")
	pgSvc := Find[corev1.Service](c.objs, "ms-kafka", "postgres")
	if pg == nil || pgSvc == nil {
		c.addf("StatefulSet or Service ms-kafka/postgres: missing, or did not decode")
		return
	}
	maxConns, database, roles := postgresSettings(pg)
	budget := 0
	for name, f := range c.funcs {
		budget += c.functionDatabase(name, f, pgSvc, database, roles)
	}
	if budget > maxConns-superuserReservedConnections {
		c.addf("StatefulSet ms-kafka/postgres: max_connections %d: the functions may open %d (scale.max × DB_MAX_CONNS), more than the %d Postgres grants them",
			maxConns, budget, maxConns-superuserReservedConnections)
	}
}

// statefulSetsAndServices: each StatefulSet selects its pods and has its
// Service; each Service selects pods that have its target ports.
func (c *checker) statefulSetsAndServices() {
	for _, s := range All[appsv1.StatefulSet](c.objs) {
		c.podRefs("StatefulSet "+s.Namespace+"/"+s.Name, s.Namespace, s.Spec.Template.Spec, s.Spec.VolumeClaimTemplates)
		if sel := s.Spec.Selector.MatchLabels; len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(s.Spec.Template.Labels)) {
			c.addf("StatefulSet %s/%s: spec.selector does not select its own pod template", s.Namespace, s.Name)
		}
		if Find[corev1.Service](c.objs, s.Namespace, s.Spec.ServiceName) == nil {
			c.addf("StatefulSet %s/%s: serviceName %q: no Service of that name", s.Namespace, s.Name, s.Spec.ServiceName)
		}
	}
	for _, svc := range All[corev1.Service](c.objs) {
		pods := c.podsSelectedBy(svc.Namespace, svc.Spec.Selector)
		if len(pods) == 0 {
			c.addf("Service %s/%s: its selector matches no pod template in the tree", svc.Namespace, svc.Name)
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.StrVal == "" {
				continue
			}
			if !slices.ContainsFunc(pods, func(ps corev1.PodSpec) bool { return hasPort(ps, p.TargetPort.StrVal) }) {
				c.addf("Service %s/%s: port %s: targetPort %q is no container port of the selected pods", svc.Namespace, svc.Name, p.Name, p.TargetPort.StrVal)
			}
		}
	}
}

// postgresSettings reads max_connections (-c), the database and the roles
// Postgres provisions from its StatefulSet.
func postgresSettings(pg *appsv1.StatefulSet) (maxConns int, database string, roles []string) {
	maxConns, database, roles = 100, "", []string{}
	for _, ctr := range pg.Spec.Template.Spec.Containers {
		for i, a := range ctr.Args {
			if v, ok := strings.CutPrefix(a, "max_connections="); ok && i > 0 && ctr.Args[i-1] == "-c" {
				maxConns, _ = strconv.Atoi(v)
			}
		}
		for _, e := range ctr.Env {
			switch e.Name {
			case "POSTGRES_DB":
				database = e.Value
			case "ROLES":
				roles = strings.Fields(e.Value)
			}
		}
	}
	return maxConns, database, roles
}

// functionDatabase checks one function's connection to Postgres (its role
// and schema, the Service, the database, a bounded scale) and returns how
// many connections its pods may open at most: scale.max × DB_MAX_CONNS.
func (c *checker) functionDatabase(name string, f FuncYAML, pgSvc *corev1.Service, database string, roles []string) int {
	file := strings.TrimPrefix(path.Join(c.in.FunctionsDir, name, "func.yaml"), "/")
	schema, _ := c.env(f, "DATABASE_SCHEMA")
	if !slices.Contains(roles, schema) {
		c.addf("%s: DATABASE_SCHEMA %q is not one of the roles Postgres provisions (%s)", file, schema, strings.Join(roles, " "))
	}
	raw, ok := c.env(f, "DATABASE_URL")
	if !ok {
		return 0
	}
	u, err := url.Parse(raw)
	if err != nil {
		c.addf("%s: DATABASE_URL does not parse", file)
		return 0
	}
	wantHost := fmt.Sprintf("%s.%s.svc.cluster.local:%d", pgSvc.Name, pgSvc.Namespace, pgSvc.Spec.Ports[0].Port)
	if u.Host != wantHost || strings.TrimPrefix(u.Path, "/") != database || u.User.Username() != schema {
		c.addf("%s: DATABASE_URL is %s@%s/%s: want %s@%s/%s (its role, the Postgres Service, the database)",
			file, u.User.Username(), u.Host, strings.TrimPrefix(u.Path, "/"), schema, wantHost, database)
	}
	conns, _ := c.env(f, "DB_MAX_CONNS")
	n, err := strconv.Atoi(conns)
	if err != nil {
		c.addf("%s: DB_MAX_CONNS %q is not a number", file, conns)
		return 0
	}
	maxScale := 0
	if s := f.Deploy.Options.Scale; s != nil && s.Max != nil {
		maxScale = int(*s.Max)
	}
	if maxScale == 0 {
		c.addf("%s: deploy.options.scale.max: set a bound, or the pods' connections could exhaust Postgres", file)
	}
	return maxScale * n
}

// podRefs checks a pod spec's references to Secrets, ConfigMaps, volumes and
// its service account.
func (c *checker) podRefs(id, ns string, ps corev1.PodSpec, claims []corev1.PersistentVolumeClaim) {
	if sa := ps.ServiceAccountName; sa != "" && sa != "default" && Find[corev1.ServiceAccount](c.objs, ns, sa) == nil {
		c.addf("%s: serviceAccountName %q not found", id, sa)
	}
	vols := map[string]bool{}
	for _, v := range ps.Volumes {
		vols[v.Name] = true
		switch {
		case v.ConfigMap != nil:
			if Find[corev1.ConfigMap](c.objs, ns, v.ConfigMap.Name) == nil {
				c.addf("%s: volume %s: ConfigMap %s/%s not found", id, v.Name, ns, v.ConfigMap.Name)
			}
		case v.Secret != nil:
			if Find[corev1.Secret](c.objs, ns, v.Secret.SecretName) == nil {
				c.addf("%s: volume %s: Secret %s/%s not found", id, v.Name, ns, v.Secret.SecretName)
			}
		}
	}
	for _, pvc := range claims {
		vols[pvc.Name] = true
	}
	for _, ctr := range slices.Concat(ps.InitContainers, ps.Containers) {
		for _, e := range ctr.Env {
			if e.ValueFrom == nil {
				continue
			}
			var err error
			switch {
			case e.ValueFrom.SecretKeyRef != nil:
				_, err = c.lookup(ns, "Secret", e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
			case e.ValueFrom.ConfigMapKeyRef != nil:
				_, err = c.lookup(ns, "ConfigMap", e.ValueFrom.ConfigMapKeyRef.Name, e.ValueFrom.ConfigMapKeyRef.Key)
			}
			if err != nil {
				c.addf("%s: container %s: env %s: %w", id, ctr.Name, e.Name, err)
			}
		}
		for _, m := range ctr.VolumeMounts {
			if !vols[m.Name] {
				c.addf("%s: container %s: volumeMount %q names no volume", id, ctr.Name, m.Name)
			}
		}
	}
}

// podsSelectedBy returns the pod specs of the workloads in ns whose
// template labels match selector.
func (c *checker) podsSelectedBy(ns string, selector map[string]string) []corev1.PodSpec {
	var out []corev1.PodSpec
	if len(selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(selector)
	for _, s := range All[appsv1.StatefulSet](c.objs) {
		if s.Namespace == ns && sel.Matches(labels.Set(s.Spec.Template.Labels)) {
			out = append(out, s.Spec.Template.Spec)
		}
	}
	built := map[string]bool{}
	for _, svc := range c.services {
		built[svc.Name] = true
		// Knative labels a function's pods with the template's labels and its
		// own (knative.dev/serving v0.50.0, pkg/apis/serving/register.go).
		pod := labels.Merge(svc.Spec.Template.Labels, labels.Set{serving.ServiceLabelKey: svc.Name, serving.ConfigurationLabelKey: svc.Name})
		if svc.Namespace == ns && sel.Matches(pod) {
			out = append(out, svc.Spec.Template.Spec.PodSpec)
		}
	}
	// The platform's workloads (package platform) have the pods they are
	// known to have; their containers are not modelled.
	for _, w := range platform.Workloads() {
		if w.Namespace == ns && sel.Matches(labels.Set(w.PodLabels)) {
			out = append(out, corev1.PodSpec{})
		}
	}
	// A function whose func.yaml is broken is reported with it; its pods
	// would still carry Knative's label.
	for _, name := range c.declared {
		if !built[name] && sel.Matches(labels.Set{serving.ServiceLabelKey: name}) {
			out = append(out, corev1.PodSpec{})
		}
	}
	return out
}

func hasPort(ps corev1.PodSpec, name string) bool {
	for _, ctr := range ps.Containers {
		for _, p := range ctr.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}
