package daemon

import (
	"context"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

// BenchmarkPlannerPass times one planning pass over 100,000 threads (10,000
// with -short): with 1% of them due, next to a pass with none due, in the
// same run and on the same database. The due threads had new mail (their
// next action is "decide now"); each is locked, read, decided and written
// back. The ratio shows that the cost follows the due threads: the idle
// pass is one index probe, whatever the number of threads.
//
//	go test -run '^$' -bench PlannerPass -benchtime 3x ./daemon/
func BenchmarkPlannerPass(b *testing.B) {
	threads := 100_000
	if testing.Short() {
		threads = 10_000
	}
	now := day(3, 10)
	st := storetest.New(b, func() time.Time { return now })
	seedThreads(b, st, threads, now)
	p := &Planner{Store: st, Policy: outreach.DefaultPolicy()}
	ctx := context.Background()
	due := threads / 100
	pass := func(b *testing.B, due int) {
		for b.Loop() {
			b.StopTimer()
			if _, err := st.DB().Exec(`UPDATE threads SET next_action = 'decide', next_action_at = $2
				WHERE id % 100 = 0 AND id <= $1 * 100`, due, now.Add(-time.Hour)); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			sum, err := p.Tick(ctx, now)
			if err != nil || sum.Planned != due {
				b.Fatalf("planned %d (%v), want %d", sum.Planned, err, due)
			}
		}
		b.ReportMetric(float64(due), "due_threads")
	}
	var idle, busy float64
	b.Run("none_due", func(b *testing.B) {
		pass(b, 0)
		idle = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("one_percent_due", func(b *testing.B) {
		pass(b, due)
		busy = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if idle > 0 {
			b.ReportMetric(busy/idle, "x_none_due")
			b.ReportMetric(busy/float64(due)/idle, "x_none_due_per_thread")
		}
	})
}

// seedThreads writes n contacts, each with a thread awaiting a reply to an
// email sent two days before now, in bulk.
func seedThreads(b *testing.B, st *store.Store, n int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	acct, err := st.EnsureAccount(ctx, outreach.Account{Name: "main", Email: applicant, Timezone: "UTC"})
	if err != nil {
		b.Fatal(err)
	}
	sent, err := st.EnsureMailbox(ctx, acct, "Sent", "sent")
	if err != nil {
		b.Fatal(err)
	}
	sentAt, later := now.Add(-48*time.Hour), now.Add(5*24*time.Hour)
	steps := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO contacts (first_name, last_name, created_at, updated_at)
		  SELECT 'First' || g, 'Last' || g, $2, $2 FROM generate_series(1, $1) g`, []any{n, now}},
		{`INSERT INTO contact_addresses (contact_id, address, is_primary, created_at)
		  SELECT id, 'prof' || id || '@med.example.edu', true, $1 FROM contacts`, []any{now}},
		{`INSERT INTO threads (id, account_id, contact_id, state, subject, root_message_id, initial_sent_at,
		                       last_outbound_at, next_action, next_action_at, created_at, updated_at)
		  SELECT id, $1, id, 'awaiting_reply', 'Research opportunity', 'orig' || id || '@example.org', $2, $2,
		         'propose_followup', $3, $4, $4 FROM contacts`, []any{acct, sentAt, later, now}},
		{`INSERT INTO messages (mailbox_id, uidvalidity, uid, message_id, from_addr, to_addrs, subject, sent_date,
		                        direction, raw, thread_id, contact_id, attached_at, created_at)
		  SELECT $1, 1, t.id, t.root_message_id, 'applicant@example.org', ARRAY['prof' || t.id || '@med.example.edu'],
		         t.subject, $2, 'out', 'Subject: Research opportunity', t.id, t.id, $3, $3 FROM threads t`,
			[]any{sent.ID, sentAt, now}},
		{`ANALYZE`, nil},
	}
	for _, s := range steps {
		if _, err := st.DB().ExecContext(ctx, s.sql, s.args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, s.sql)
		}
	}
}
