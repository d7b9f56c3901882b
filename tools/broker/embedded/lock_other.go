//go:build !unix

package embedded

// lock does nothing where flock(2) does not exist; keeping two brokers off
// one data directory is then up to the user.
func lock(string) (unlock func(), err error) { return func() {}, nil }
