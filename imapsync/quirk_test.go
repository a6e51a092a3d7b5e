package imapsync

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSyncUIDAfterLiteral: a server that puts UID after the header literal
// (Microsoft 365) makes go-imap route responses to the unilateral handler;
// Sync must still deliver every message, once, in order.
func TestSyncUIDAfterLiteral(t *testing.T) {
	tests := []struct {
		name     string
		uidAfter bool
	}{
		{"uid first", false},
		{"uid after literal", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, fakeConfig{messages: 25, uidAfter: tt.uidAfter})
			var col collector
			cur, err := f.dial(t).Sync(context.Background(), "INBOX", Cursor{}, SyncOptions{BatchSize: 10}, col.emit)
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if got := col.uids(); !equalUIDs(got, seqUIDs(1, 25)) {
				t.Fatalf("delivered UIDs %v, want 1..25", got)
			}
			m := col.batches[0].Messages[3]
			if m.MessageID != "fake-4@example.com" || m.From != "prof@example.edu" || m.ParseError != "" {
				t.Errorf("message 4 parsed as %+v", m)
			}
			if cur.HighestUID != 25 || cur.Messages != 25 || cur.UIDNext != 26 {
				t.Errorf("final cursor %+v", cur)
			}
			if searched := strings.Contains(f.commands(), "UID SEARCH"); searched != tt.uidAfter {
				t.Errorf("UID SEARCH issued = %v, want %v (only to check astray responses)", searched, tt.uidAfter)
			}
		})
	}
}

// TestSyncResumeAfterDrop: the server drops the connection in the middle of
// a FETCH, between two responses or halfway through a literal; Sync fails,
// the batches emitted before are intact, and a second Sync on a fresh
// connection from the returned cursor gets the rest with no duplicates and
// no gaps. Under -race, the drop mid-literal also checks that go-imap's
// reader and the goroutine draining the literal never share the buffer
// (beta.8 takes the connection's EOF for the literal's end: see guardConn).
func TestSyncResumeAfterDrop(t *testing.T) {
	for _, midLiteral := range []bool{false, true} {
		name := map[bool]string{false: "between responses", true: "mid literal"}[midLiteral]
		t.Run(name, func(t *testing.T) {
			f := newFakeServer(t, fakeConfig{messages: 25, dropAfter: 13, midLiteral: midLiteral})
			ctx := context.Background()
			var first collector
			cur, err := f.dial(t).Sync(ctx, "INBOX", Cursor{}, SyncOptions{BatchSize: 10}, first.emit)
			if err == nil {
				t.Fatal("Sync over a dropped connection succeeded")
			}
			if !strings.Contains(err.Error(), "sync INBOX") {
				t.Errorf("error does not say what failed: %v", err)
			}
			if got := first.uids(); !equalUIDs(got, seqUIDs(1, 10)) {
				t.Fatalf("before the drop: UIDs %v, want 1..10", got)
			}
			if cur != first.batches[len(first.batches)-1].Cursor || cur.HighestUID != 10 {
				t.Fatalf("returned cursor %+v is not the last emitted one", cur)
			}
			var second collector
			final, err := f.dial(t).Sync(ctx, "INBOX", cur, SyncOptions{BatchSize: 10}, second.emit)
			if err != nil {
				t.Fatalf("resumed Sync: %v", err)
			}
			all := append(first.uids(), second.uids()...)
			if !equalUIDs(all, seqUIDs(1, 25)) {
				t.Fatalf("UIDs over both passes %v, want 1..25 once each", all)
			}
			if final.Messages != 25 || final.HighestUID != 25 {
				t.Errorf("final cursor %+v", final)
			}
		})
	}
}

// TestSyncCancelledMidLiteral: the pass is cancelled while the server is in
// the middle of sending a literal and then goes quiet. Sync tears the
// connection down at once instead of waiting for the command timeout, says
// why, and keeps what it emitted; under -race, also that tearing down in
// the middle of a literal leaves go-imap's reader and the drainer apart.
func TestSyncCancelledMidLiteral(t *testing.T) {
	f := newFakeServer(t, fakeConfig{messages: 25, dropAfter: 13, midLiteral: true, stall: true})
	c, err := Dial(context.Background(), Account{Host: "127.0.0.1", Port: f.port, Security: "none",
		Username: "u", Password: "p", CommandTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-f.stalled
		cancel()
	}()
	var col collector
	cur, err := c.Sync(ctx, "INBOX", Cursor{}, SyncOptions{BatchSize: 10}, col.emit)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync cancelled mid-literal returned %v, want context.Canceled", err)
	}
	// The cancel may come before or after the first batch was emitted;
	// either way the cursor covers exactly what was emitted.
	if got := col.uids(); cur.HighestUID > 10 || !equalUIDs(got, seqUIDs(1, cur.HighestUID)) {
		t.Fatalf("emitted UIDs %v with cursor %+v; want 1..HighestUID, at most 10", got, cur)
	}
}
