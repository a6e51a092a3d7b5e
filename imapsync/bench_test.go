package imapsync

import (
	"context"
	"io"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// benchMessages is the mailbox size of BenchmarkSyncInitial.
const benchMessages = 2000

// BenchmarkSyncInitial measures an initial Sync of 2,000 messages against
// go-imap's in-memory server, next to a bare go-imap client issuing the same
// UID FETCH 1:* of the header fields without any parsing (the baseline).
func BenchmarkSyncInitial(b *testing.B) {
	s := newMemServer(b, serverConfig{})
	s.appendMsgs(b, "INBOX", genMessages(1, benchMessages)...)
	b.Run("imapsync", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			syncOnce(b, s)
		}
		b.ReportMetric(float64(benchMessages*b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("baseline-go-imap", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			bareFetch(b, s)
		}
		b.ReportMetric(float64(benchMessages*b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// syncOnce dials, syncs INBOX from scratch and closes.
func syncOnce(b *testing.B, s *memServer) {
	c, err := Dial(context.Background(), s.account("none"))
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	_, err = c.Sync(context.Background(), "INBOX", Cursor{}, SyncOptions{}, func(bt Batch) error {
		n += len(bt.Messages)
		return nil
	})
	if err != nil || n != benchMessages {
		b.Fatalf("Sync: %d messages, %v", n, err)
	}
	c.Close()
}

// bareFetch is the baseline: login, SELECT, one UID FETCH 1:* of the same
// items, literals read and discarded, logout.
func bareFetch(b *testing.B, s *memServer) {
	cl, err := imapclient.DialInsecure(s.addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login(testUser, testPass).Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	cmd := cl.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, phase1Options())
	n := 0
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			if body, ok := item.(imapclient.FetchItemDataBodySection); ok && body.Literal != nil {
				io.Copy(io.Discard, body.Literal)
			}
		}
		n++
	}
	if err := cmd.Close(); err != nil || n != benchMessages {
		b.Fatalf("bare fetch: %d messages, %v", n, err)
	}
	cl.Logout().Wait()
}
