package telemetry

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// This file is the Prometheus endpoint: GET /metrics in the text exposition
// format 0.0.4, written from what a ManualReader collects. It writes what
// go.opentelemetry.io/otel/exporters/prometheus v0.69.0 with client_golang's
// promhttp wrote for us (WithResourceAsConstantLabels(service.name),
// WithoutScopeInfo, the default strategy UnderscoreEscapingWithSuffixes), so
// that the dashboard and the platform fixture keep reading the same series,
// without the start-up cost of those packages. The rules below cite their
// source: exporter.go is that exporter's; metric_namer.go, unit_namer.go,
// label_namer.go and strconv.go are github.com/prometheus/otlptranslator
// v1.0.0's, the version it was built with. testdata/metrics-otelprom.prom is
// what the official exporter wrote, and the tests hold this one to it.

// textContentType is what promhttp answered a scrape with.
const textContentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// targetInfoHelp is the HELP of target_info (exporter.go, targetInfoDescription).
const targetInfoHelp = "Target metadata"

// metricsEndpoint serves the metrics of one MeterProvider.
type metricsEndpoint struct {
	reader *sdkmetric.ManualReader
	// constant are the resource attributes written as labels on every
	// series (service.name, so that one query shows the functions side by
	// side). All of them are on target_info.
	constant []attribute.Key
}

func newMetricsEndpoint(constant ...attribute.Key) *metricsEndpoint {
	return &metricsEndpoint{reader: sdkmetric.NewManualReader(), constant: constant}
}

func (e *metricsEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", textContentType)
	var rm metricdata.ResourceMetrics
	err := e.reader.Collect(r.Context(), &rm)
	switch {
	case errors.Is(err, sdkmetric.ErrReaderShutdown), errors.Is(err, sdkmetric.ErrReaderNotRegistered):
		return // nothing to say: an empty exposition, as before
	case err != nil:
		// A callback failed (the outbox gauges read the database): the
		// other instruments still have something to say.
		otel.Handle(fmt.Errorf("collect metrics: %w", err))
	}
	var out io.Writer = w
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		defer gz.Close()
		out = gz
	}
	bw := bufio.NewWriter(out)
	writeExposition(bw, e.families(&rm))
	if err := bw.Flush(); err != nil {
		otel.Handle(fmt.Errorf("write metrics: %w", err))
	}
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (as
// Prometheus's does): a scrape shrinks tenfold.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(coding) != "gzip" {
			continue
		}
		for p := range strings.SplitSeq(params, ";") {
			if k, v, _ := strings.Cut(strings.TrimSpace(p), "="); k == "q" {
				if q, err := strconv.ParseFloat(v, 64); err == nil && q == 0 {
					return false
				}
			}
		}
		return true
	}
	return false
}

// promType is a family's TYPE.
type promType string

const (
	counterType   promType = "counter"
	gaugeType     promType = "gauge"
	histogramType promType = "histogram"
)

type label struct{ name, value string }

// series is one labelled time series of a family: a value, or for a
// histogram its cumulative buckets, sum and count.
type series struct {
	labels []label // sorted by name
	value  float64
	bounds []float64
	counts []uint64 // cumulative, one per bound
	count  uint64
	sum    float64
}

type family struct {
	name, help string
	typ        promType
	series     []series
}

// families turns a collection into the families to write, sorted by name,
// their series sorted by labels, as client_golang's registry sorts them.
func (e *metricsEndpoint) families(rm *metricdata.ResourceMetrics) []*family {
	target, err := labels(*rm.Resource.Set(), nil)
	if err != nil {
		otel.Handle(fmt.Errorf("target_info: %w", err))
	}
	byName := map[string]*family{}
	fams := []*family{{name: "target_info", help: targetInfoHelp, typ: gaugeType,
		series: []series{{labels: target, value: 1}}}}
	byName["target_info"] = fams[0]

	var constant []attribute.KeyValue
	for _, k := range e.constant {
		if v, ok := rm.Resource.Set().Value(k); ok {
			constant = append(constant, k.String(v.String()))
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			f, err := newFamily(m, constant)
			if err != nil {
				otel.Handle(fmt.Errorf("metric %s of %s: %w", m.Name, sm.Scope.Name, err))
				continue
			}
			have, ok := byName[f.name]
			switch {
			case !ok:
				byName[f.name] = f
				fams = append(fams, f)
			case have.typ != f.typ:
				otel.Handle(fmt.Errorf("metric %s of %s: %s is a %s already, not a %s: dropped", m.Name, sm.Scope.Name, f.name, have.typ, f.typ))
			default:
				// The same name in two scopes is one family; the first
				// HELP stays, as in the official exporter.
				have.series = append(have.series, f.series...)
			}
		}
	}
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	for _, f := range fams {
		// Fewer labels first, then by the values (client_golang's
		// metricSorter), then by the names, so that equal series meet.
		slices.SortFunc(f.series, func(a, b series) int {
			return cmp.Or(cmp.Compare(len(a.labels), len(b.labels)),
				slices.CompareFunc(a.labels, b.labels, func(x, y label) int { return strings.Compare(x.value, y.value) }),
				slices.CompareFunc(a.labels, b.labels, func(x, y label) int { return strings.Compare(x.name, y.name) }))
		})
		f.series = dropRepeated(f.name, f.series)
	}
	return fams
}

// dropRepeated keeps the first of sorted series with the same labels: a
// scraper takes a repeated series for an error in the whole exposition.
// It happens only when two scopes write one name with the same attributes.
func dropRepeated(name string, ss []series) []series {
	out := ss[:0]
	for i, s := range ss {
		if i > 0 && slices.Equal(s.labels, ss[i-1].labels) {
			otel.Handle(fmt.Errorf("metric %s: series %v written twice: the second dropped", name, s.labels))
			continue
		}
		out = append(out, s)
	}
	return out
}

// newFamily converts one instrument's data.
func newFamily(m metricdata.Metrics, constant []attribute.KeyValue) (*family, error) {
	var (
		f    = &family{help: m.Description}
		kind nameKind
		err  error
	)
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		f.typ, kind, f.series, err = sumSeries(d, constant)
	case metricdata.Sum[float64]:
		f.typ, kind, f.series, err = sumSeries(d, constant)
	case metricdata.Gauge[int64]:
		f.typ, kind = gaugeType, gaugeName
		f.series, err = pointSeries(d.DataPoints, constant)
	case metricdata.Gauge[float64]:
		f.typ, kind = gaugeType, gaugeName
		f.series, err = pointSeries(d.DataPoints, constant)
	case metricdata.Histogram[int64]:
		f.typ, kind = histogramType, histogramName
		f.series, err = histogramSeries(d.DataPoints, constant)
	case metricdata.Histogram[float64]:
		f.typ, kind = histogramType, histogramName
		f.series, err = histogramSeries(d.DataPoints, constant)
	default:
		// Exponential histograms and summaries: no instrument here makes them.
		return nil, fmt.Errorf("%T is not written in the text format", m.Data)
	}
	if err != nil {
		return nil, err
	}
	if f.name, err = metricName(m.Name, m.Unit, kind); err != nil {
		return nil, err
	}
	return f, nil
}

func sumSeries[N int64 | float64](s metricdata.Sum[N], constant []attribute.KeyValue) (promType, nameKind, []series, error) {
	ss, err := pointSeries(s.DataPoints, constant)
	if s.IsMonotonic {
		return counterType, counterName, ss, err
	}
	// An up-down counter is a gauge to Prometheus, and is named as one
	// but without _ratio (namingMetricType: MetricTypeNonMonotonicCounter).
	return gaugeType, upDownName, ss, err
}

func pointSeries[N int64 | float64](dps []metricdata.DataPoint[N], constant []attribute.KeyValue) ([]series, error) {
	out := make([]series, 0, len(dps))
	for _, dp := range dps {
		ls, err := labels(dp.Attributes, constant)
		if err != nil {
			return nil, err
		}
		out = append(out, series{labels: ls, value: float64(dp.Value)})
	}
	return out, nil
}

func histogramSeries[N int64 | float64](dps []metricdata.HistogramDataPoint[N], constant []attribute.KeyValue) ([]series, error) {
	out := make([]series, 0, len(dps))
	for _, dp := range dps {
		ls, err := labels(dp.Attributes, constant)
		if err != nil {
			return nil, err
		}
		s := series{labels: ls, bounds: dp.Bounds, counts: make([]uint64, len(dp.Bounds)), count: dp.Count, sum: float64(dp.Sum)}
		var cum uint64
		for i := range dp.Bounds {
			cum += dp.BucketCounts[i]
			s.counts[i] = cum
		}
		out = append(out, s)
	}
	return out, nil
}

// labels converts attributes (and the constant resource labels) to label
// pairs sorted by name. Attributes whose names sanitise to one label name
// share it, their values sorted and joined by ";" (exporter.go, getAttrs).
// The official exporter fails the whole scrape when a data point's
// attribute lands on a constant label's name; here they share it too.
func labels(attrs attribute.Set, constant []attribute.KeyValue) ([]label, error) {
	values := map[string][]string{}
	add := func(kv attribute.KeyValue) error {
		name, err := labelName(string(kv.Key))
		if err != nil {
			return err
		}
		values[name] = append(values[name], kv.Value.String())
		return nil
	}
	for it := attrs.Iter(); it.Next(); {
		if err := add(it.Attribute()); err != nil {
			return nil, err
		}
	}
	for _, kv := range constant {
		if err := add(kv); err != nil {
			return nil, err
		}
	}
	out := make([]label, 0, len(values))
	for name, vs := range values {
		slices.Sort(vs)
		out = append(out, label{name, strings.Join(vs, ";")})
	}
	slices.SortFunc(out, func(a, b label) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// labelName is an attribute key as a Prometheus label name: each run of
// characters other than [a-zA-Z0-9] becomes one "_", a leading digit gets
// "key_" before it, and a name reserved as __x__ stays so (otlptranslator
// v1.0.0: label_namer.go, LabelNamer.Build, and strconv.go, sanitizeLabelName).
func labelName(key string) (string, error) {
	if key == "" {
		return "", errors.New("label name is empty")
	}
	inner, reserved := key, len(key) >= 4 && strings.HasPrefix(key, "__") && strings.HasSuffix(key, "__")
	if reserved {
		inner = key[2 : len(key)-2]
	}
	name := underscored(inner, isLabelChar)
	if reserved {
		name = "__" + name + "__"
	}
	if unicode.IsDigit(rune(name[0])) {
		name = "key_" + name
	}
	if strings.Trim(name, "_") == "" {
		return "", fmt.Errorf("label name %q sanitises to %q", key, name)
	}
	return name, nil
}

func isLabelChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// isMetricChar is a character a metric name keeps; ":" too, unlike a label.
func isMetricChar(r rune) bool { return isLabelChar(r) || r == ':' }

// nameKind is what the naming rules know of an instrument.
type nameKind int

const (
	counterName   nameKind = iota // a monotonic sum: _total
	upDownName                    // a non-monotonic sum
	gaugeName                     // a gauge: _ratio for unit 1
	histogramName                 // _bucket, _sum and _count come on writing
)

// metricName is an instrument's name as a Prometheus metric name: the name
// split at every character other than [a-zA-Z0-9:] and joined by "_", with
// the unit's words added unless the name has them already, then "total"
// moved to the end of a counter's name and "ratio" to the end of the name
// of a gauge of unit 1 (otlptranslator v1.0.0: metric_namer.go,
// normalizeName and addUnitTokens; unit_namer.go, buildUnitSuffixes and
// cleanUpUnit). So orders.placed {order} is orders_placed_total and
// events.delay s a histogram events_delay_seconds.
func metricName(name, unit string, kind nameKind) (string, error) {
	tokens := strings.FieldsFunc(name, func(r rune) bool { return !isMetricChar(r) })
	main, per := unitWords(unit)
	main, per = cleanUnit(main), cleanUnit(per)
	if slices.Contains(tokens, main) {
		main = ""
	}
	if per == "per_" {
		per = ""
	} else if per = strings.TrimSuffix(per, "_"); slices.Contains(tokens, per) {
		per = ""
	}
	if per != "" {
		main = strings.TrimSuffix(main, "_")
	}
	if main != "" {
		tokens = append(tokens, main)
	}
	if per != "" {
		tokens = append(tokens, per)
	}
	if kind == counterName {
		tokens = append(slices.DeleteFunc(tokens, func(t string) bool { return t == "total" }), "total")
	}
	if unit == "1" && kind == gaugeName {
		tokens = append(slices.DeleteFunc(tokens, func(t string) bool { return t == "ratio" }), "ratio")
	}
	out := strings.Join(tokens, "_")
	if out != "" && unicode.IsDigit(rune(out[0])) {
		out = "_" + out
	}
	if strings.Trim(out, "_") == "" {
		return "", fmt.Errorf("metric name %q sanitises to %q", name, out)
	}
	return out, nil
}

// unitWords splits a UCUM unit into the words of its main and per parts:
// "KiBy/s" is kibibytes, per_second; annotations ({order}) and "1" say
// nothing (unit_namer.go, buildUnitSuffixes).
func unitWords(unit string) (main, per string) {
	mainUnit, perUnit, hasPer := strings.Cut(unit, "/")
	if m := strings.TrimSpace(mainUnit); m != "" && !strings.ContainsAny(m, "{}") {
		main = unitName(m)
	}
	if p := strings.TrimSpace(perUnit); hasPer && p != "" && !strings.ContainsAny(p, "{}") {
		per = "per_" + perUnitName(p)
	}
	return main, per
}

// cleanUnit makes a unit's words name characters: each run of other
// characters becomes one "_", and a leading "_" goes (cleanUpUnit).
func cleanUnit(s string) string { return strings.TrimPrefix(underscored(s, isMetricChar), "_") }

// underscored is s with each run of characters that keep refuses replaced
// by one "_" (an "_" is refused too, so runs of them shrink to one).
func underscored(s string, keep func(rune) bool) string {
	var b strings.Builder
	underscore := false
	for _, r := range s {
		if keep(r) {
			b.WriteRune(r)
			underscore = false
		} else if !underscore {
			b.WriteByte('_')
			underscore = true
		}
	}
	return b.String()
}

// unitName is the word of a UCUM unit (metric_namer.go, unitMap); any
// other unit is its own word.
func unitName(u string) string {
	for _, w := range [...][2]string{
		{"d", "days"}, {"h", "hours"}, {"min", "minutes"}, {"s", "seconds"},
		{"ms", "milliseconds"}, {"us", "microseconds"}, {"ns", "nanoseconds"},
		{"By", "bytes"}, {"KiBy", "kibibytes"}, {"MiBy", "mebibytes"}, {"GiBy", "gibibytes"}, {"TiBy", "tibibytes"},
		{"KBy", "kilobytes"}, {"MBy", "megabytes"}, {"GBy", "gigabytes"}, {"TBy", "terabytes"},
		{"m", "meters"}, {"V", "volts"}, {"A", "amperes"}, {"J", "joules"}, {"W", "watts"}, {"g", "grams"},
		{"Cel", "celsius"}, {"Hz", "hertz"}, {"1", ""}, {"%", "percent"},
	} {
		if w[0] == u {
			return w[1]
		}
	}
	return u
}

// perUnitName is the word of a unit after "/" (metric_namer.go, perUnitMap).
func perUnitName(u string) string {
	for _, w := range [...][2]string{
		{"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"}, {"w", "week"}, {"mo", "month"}, {"y", "year"},
	} {
		if w[0] == u {
			return w[1]
		}
	}
	return u
}

// writeExposition writes families in the text format 0.0.4: HELP and TYPE
// lines, then the samples (a histogram's as _bucket with le, _sum, _count).
// Errors are the writer's, left to its Flush.
func writeExposition(w *bufio.Writer, fams []*family) {
	for _, f := range fams {
		if len(f.series) == 0 {
			continue
		}
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
		for _, s := range f.series {
			if f.typ != histogramType {
				writeSample(w, f.name, s.labels, nil, s.value)
				continue
			}
			for i, b := range s.bounds {
				writeSample(w, f.name+"_bucket", s.labels, &label{"le", formatFloat(b)}, float64(s.counts[i]))
			}
			writeSample(w, f.name+"_bucket", s.labels, &label{"le", "+Inf"}, float64(s.count))
			writeSample(w, f.name+"_sum", s.labels, nil, s.sum)
			writeSample(w, f.name+"_count", s.labels, nil, float64(s.count))
		}
	}
}

func writeSample(w *bufio.Writer, name string, labels []label, extra *label, v float64) {
	w.WriteString(name)
	if len(labels) > 0 || extra != nil {
		w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.WriteByte(',')
			}
			writeLabel(w, l)
		}
		if extra != nil {
			if len(labels) > 0 {
				w.WriteByte(',')
			}
			writeLabel(w, *extra)
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatFloat(v))
	w.WriteByte('\n')
}

func writeLabel(w *bufio.Writer, l label) {
	w.WriteString(l.name)
	w.WriteString(`="`)
	w.WriteString(escapeLabelValue(l.value))
	w.WriteByte('"')
}

// escapeHelp escapes what a HELP line cannot hold: a backslash and a newline.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// escapeLabelValue escapes a backslash, a double quote and a newline.
func escapeLabelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// formatFloat spells a value as Prometheus's expfmt does: the shortest
// representation, and +Inf, -Inf, NaN.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
