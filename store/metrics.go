package store

import (
	"context"
	"time"
)

// MailboxGauge is one mailbox's sync state, for monitoring.
type MailboxGauge struct {
	Account    string     `db:"account"`
	Mailbox    string     `db:"mailbox"`
	State      string     `db:"state"`
	Messages   int64      `db:"messages"`
	LastPassAt *time.Time `db:"last_pass_at"`
}

// Count is one labelled count.
type Count struct {
	Label string `db:"label"`
	N     int64  `db:"n"`
}

// Gauges is what the database says about the daemon's work, read at once
// for a metrics scrape: mailboxes, classifications, drafts and threads.
type Gauges struct {
	Mailboxes        []MailboxGauge
	Classifications  []Count // incoming messages by kind ("unclassified" for none)
	Drafts           []Count // by state
	Threads          []Count // by state
	DegradedAccounts int64
}

// ReadGauges reads the gauges in one read-only transaction.
func (s *Store) ReadGauges(ctx context.Context) (Gauges, error) {
	var g Gauges
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return g, mapError("read gauges", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	steps := []func() error{
		func() error {
			return tx.SelectContext(ctx, &g.Mailboxes, `SELECT a.name AS account, b.name AS mailbox, b.state,
				b.message_count AS messages, b.last_pass_at FROM mailboxes b JOIN accounts a ON a.id = b.account_id
				ORDER BY a.name, b.name`)
		},
		func() error {
			return tx.SelectContext(ctx, &g.Classifications, `SELECT coalesce(kind, 'unclassified') AS label,
				count(*) AS n FROM messages WHERE direction = 'in' GROUP BY 1 ORDER BY 1`)
		},
		func() error {
			return tx.SelectContext(ctx, &g.Drafts, `SELECT state AS label, count(*) AS n FROM drafts GROUP BY 1 ORDER BY 1`)
		},
		func() error {
			return tx.SelectContext(ctx, &g.Threads, `SELECT state AS label, count(*) AS n FROM threads GROUP BY 1 ORDER BY 1`)
		},
		func() error {
			return tx.GetContext(ctx, &g.DegradedAccounts, `SELECT count(*) FROM accounts WHERE state = 'degraded'`)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return g, mapError("read gauges", err)
		}
	}
	return g, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return mapError("ping the database", s.db.PingContext(ctx))
}
