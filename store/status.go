package store

import (
	"context"
	"time"

	"github.com/lib/pq"
)

// AccountStatus is an account's health and its mailboxes, for `outreach status`.
type AccountStatus struct {
	ID          int64           `json:"id"`
	Name        string          `json:"account"`
	Email       string          `json:"email"`
	State       string          `json:"state"`
	LastError   string          `json:"last_error,omitempty"`
	LastErrorAt *time.Time      `json:"last_error_at,omitempty"`
	Mailboxes   []MailboxStatus `json:"mailboxes"`
}

// MailboxStatus is a mailbox's cursor and health, and the rows held.
type MailboxStatus struct {
	Mailbox
	Rows     int64 `json:"messages"` // rows stored, expunged ones included
	Expunged int64 `json:"expunged"`
}

// Status lists every account with its mailboxes.
func (s *Store) Status(ctx context.Context) ([]AccountStatus, error) {
	var accts []struct {
		ID          int64       `db:"id"`
		Name        string      `db:"name"`
		Email       string      `db:"email"`
		State       string      `db:"state"`
		LastError   string      `db:"last_error"`
		LastErrorAt pq.NullTime `db:"last_error_at"`
	}
	if err := s.db.SelectContext(ctx, &accts, `SELECT id, name, email, state, last_error, last_error_at
		FROM accounts ORDER BY name`); err != nil {
		return nil, mapError("list accounts", err)
	}
	boxes, err := s.mailboxStatus(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AccountStatus, 0, len(accts))
	for _, a := range accts {
		st := AccountStatus{ID: a.ID, Name: a.Name, Email: a.Email, State: a.State, LastError: a.LastError,
			Mailboxes: []MailboxStatus{}}
		if a.LastErrorAt.Valid {
			t := a.LastErrorAt.Time.UTC()
			st.LastErrorAt = &t
		}
		for _, b := range boxes {
			if b.AccountID == a.ID {
				st.Mailboxes = append(st.Mailboxes, b)
			}
		}
		out = append(out, st)
	}
	return out, nil
}

func (s *Store) mailboxStatus(ctx context.Context) ([]MailboxStatus, error) {
	mbs, err := s.Mailboxes(ctx, 0)
	if err != nil {
		return nil, err
	}
	var counts []struct {
		MailboxID int64 `db:"mailbox_id"`
		Rows      int64 `db:"rows"`
		Expunged  int64 `db:"expunged"`
	}
	if err := s.db.SelectContext(ctx, &counts, `SELECT mailbox_id, count(*) AS rows,
		count(*) FILTER (WHERE expunged_at IS NOT NULL) AS expunged FROM messages GROUP BY mailbox_id`); err != nil {
		return nil, mapError("count messages", err)
	}
	out := make([]MailboxStatus, len(mbs))
	for i, mb := range mbs {
		out[i] = MailboxStatus{Mailbox: mb}
		for _, c := range counts {
			if c.MailboxID == mb.ID {
				out[i].Rows, out[i].Expunged = c.Rows, c.Expunged
			}
		}
	}
	return out, nil
}
