package imapsync

import (
	"context"
	"errors"
	"testing"
	"time"
)

// idleSetup dials the memory server through a proxy and runs Idle on INBOX
// in a goroutine; notifications arrive on the returned channel.
func idleSetup(t *testing.T, reissue time.Duration) (*memServer, *proxy, <-chan struct{}, context.CancelFunc, <-chan error) {
	t.Helper()
	s := newMemServer(t, serverConfig{})
	c, p := s.dialProxied(t)
	notified := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Idle(ctx, "INBOX", reissue, func() {
			select {
			case notified <- struct{}{}:
			default:
			}
		})
	}()
	t.Cleanup(cancel)
	return s, p, notified, cancel, done
}

// TestIdle: Idle notifies once when the mailbox is examined; a message
// appended by another client is announced within 2 seconds; cancelling the
// context ends IDLE with ctx.Err().
func TestIdle(t *testing.T) {
	s, p, notified, cancel, done := idleSetup(t, 0)
	p.waitSent(t, " IDLE\r\n", 5*time.Second)
	select {
	case <-notified: // the notice that the mailbox is examined
	default:
		t.Fatal("no notice after EXAMINE")
	}

	// go-imap's memory server registers an IDLE session for updates in a
	// goroutine after it answers "+ idling", and does not look at its queue
	// then (imapserver/tracker.go, SessionTracker.Idle): an APPEND racing
	// that start is announced only with the next change. So the other
	// client appends every 250 ms until the announcement, which must come
	// within 2 seconds of the first APPEND.
	other := s.dial(t)
	first := time.Now()
	deadline := time.After(2 * time.Second)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		uid, err := other.Append(context.Background(), "INBOX", genMessage(n), time.Now())
		if err != nil || uid != uint32(n) {
			t.Fatalf("Append = %d, %v; want UID %d (UIDPLUS)", uid, err, n)
		}
		select {
		case <-notified:
			t.Logf("announced %v after the first APPEND (%d appended)", time.Since(first).Round(time.Millisecond), n)
		case <-tick.C:
			continue
		case <-deadline:
			t.Fatal("no notification within 2s of APPEND")
		}
		break
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Idle returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Idle did not return after cancel")
	}
}

// TestIdleReissue: IDLE is ended with DONE and issued again every reissue.
func TestIdleReissue(t *testing.T) {
	_, p, _, cancel, done := idleSetup(t, 20*time.Millisecond)
	p.waitCount(t, " IDLE\r\n", 3, 5*time.Second)
	p.waitSent(t, "DONE\r\n", time.Second)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Idle returned %v", err)
	}
}

// TestIdleUnsupported returns ErrNoIdle at once.
func TestIdleUnsupported(t *testing.T) {
	f := newFakeServer(t, fakeConfig{})
	err := f.dial(t).Idle(context.Background(), "INBOX", 0, func() {})
	if !errors.Is(err, ErrNoIdle) {
		t.Fatalf("Idle = %v, want ErrNoIdle", err)
	}
}

// TestAppendSent stores the mailer's copy in Sent with \Seen.
func TestAppendSent(t *testing.T) {
	s := newMemServer(t, serverConfig{})
	c := s.dial(t)
	date := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	uid, err := c.Append(context.Background(), "Sent", genMessage(7), date)
	if err != nil || uid != 1 {
		t.Fatalf("Append = %d, %v", uid, err)
	}
	var col collector
	if _, err := c.Sync(context.Background(), "Sent", Cursor{}, SyncOptions{}, col.emit); err != nil {
		t.Fatal(err)
	}
	m := col.batches[0].Messages[0]
	if len(m.Flags) != 1 || m.Flags[0] != `\Seen` || !m.InternalDate.Equal(date) || m.MessageID != "msg-7@mail.example.edu" {
		t.Errorf("appended message synced as flags %v date %v id %q", m.Flags, m.InternalDate, m.MessageID)
	}
	if _, err := c.Append(context.Background(), "Nope", genMessage(8), date); err == nil {
		t.Error("Append to a missing mailbox succeeded")
	}
}
