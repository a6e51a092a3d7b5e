package store

import (
	"context"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Notices are PostgreSQL NOTIFY channels on which a change is announced,
// committed with it, so that a daemon in another process (or the same one)
// acts at once instead of at its next timer: the database is where the
// CLI, the web page and the daemon meet.
const (
	// NoticeApproved: a draft was approved; the sender has work.
	NoticeApproved = "outreach_approved"
	// NoticeContacts: contact addresses changed (a trigger, migration
	// 00008); a sync pass catches up the mail that now matters.
	NoticeContacts = "outreach_contacts"
)

// notify announces channel when tx commits (NOTIFY is transactional).
func notify(ctx context.Context, tx *sqlx.Tx, channel string) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, '')`, channel)
	return err
}

// Listen delivers the name of each channel notified, until ctx ends, on a
// connection of its own that reconnects by itself. After a reconnection
// every channel is delivered once, since notices sent meanwhile are lost.
// Deliveries are coalesced: a reader that falls behind misses repeats, not
// channels.
func (s *Store) Listen(ctx context.Context, channels ...string) (<-chan string, error) {
	out := make(chan string)
	reconnected := make(chan struct{}, 1)
	l := pq.NewListener(s.url, time.Second, time.Minute, func(ev pq.ListenerEventType, err error) {
		if ev == pq.ListenerEventReconnected {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}
	})
	for _, ch := range channels {
		if err := l.Listen(ch); err != nil {
			l.Close()
			return nil, mapError("listen for "+ch, err)
		}
	}
	go func() {
		defer close(out)
		defer l.Close()
		var pending []string // each channel at most once, oldest first
		for {
			var deliver chan<- string
			var next string
			if len(pending) > 0 {
				deliver, next = out, pending[0]
			}
			select {
			case <-ctx.Done():
				return
			case n := <-l.Notify:
				if n != nil {
					pending = addOnce(pending, n.Channel)
				}
			case <-reconnected:
				for _, ch := range channels {
					pending = addOnce(pending, ch)
				}
			case deliver <- next:
				pending = pending[1:]
			}
		}
	}()
	return out, nil
}

func addOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
