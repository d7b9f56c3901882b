package platform

// GoMaxProcs: the Go runtime (1.25 and later) runs as many Ps as the
// cgroup's CPU limit, rounded up, but never fewer than Min, unless
// GOMAXPROCS says otherwise. A pod limited to one CPU thus runs two Ps,
// whose idle one spins looking for work on the other's quota.
var GoMaxProcs = struct {
	Fact
	Min int64
}{
	Fact{"Go's default GOMAXPROCS is the container's CPU limit rounded up, but at least 2",
		"go1.26.8, src/runtime/cgroup_linux.go (defaultGOMAXPROCS, adjustCgroupGOMAXPROCS)"},
	2,
}
