// Package testwait waits, in tests, for what sends no event: a row in the
// database, another process's output, a lock released. It polls a
// condition until it holds or a deadline passes; it never sleeps a fixed
// time in the hope that something happened.
package testwait

import (
	"testing"
	"time"
)

// interval is how long For waits between two looks.
const interval = 10 * time.Millisecond

// For polls cond until it holds or within has passed, and reports whether
// it held.
func For(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

// Until polls cond until it holds, and fails the test, naming what it
// waited for, when within has passed first.
func Until(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !For(within, cond) {
		t.Fatalf("not within %v: %s", within, what)
	}
}
