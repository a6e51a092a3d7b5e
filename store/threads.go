package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	outreach "github.com/outreach/outreach"
)

// EnsureAccount creates the account row for a configured account, or updates
// its identity, and returns its id. Accounts are matched by name.
func (s *Store) EnsureAccount(ctx context.Context, a outreach.Account) (int64, error) {
	var id int64
	err := s.inTx(ctx, "save account "+a.Name, func(tx *sqlx.Tx) error {
		now := s.Now()
		return tx.GetContext(ctx, &id, `
			INSERT INTO accounts (name, email, display_name, timezone, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)
			ON CONFLICT (name) DO UPDATE SET email = excluded.email,
			       display_name = excluded.display_name, timezone = excluded.timezone,
			       updated_at = excluded.updated_at
			RETURNING id`, a.Name, outreach.NormalizeAddress(a.Email), a.DisplayName, a.Timezone, now)
	})
	return id, err
}

// NewThread is what starts a thread: the applicant's initial email to a contact.
type NewThread struct {
	AccountID     int64
	ContactID     int64
	Subject       string
	RootMessageID string
	InitialSentAt time.Time
}

// CreateThread records a new outreach conversation, awaiting a reply.
func (s *Store) CreateThread(ctx context.Context, n NewThread) (int64, error) {
	var id int64
	err := s.inTx(ctx, "create thread", func(tx *sqlx.Tx) error {
		now := s.Now()
		if err := tx.GetContext(ctx, &id, `
			INSERT INTO threads (account_id, contact_id, state, subject, root_message_id,
			                     initial_sent_at, last_outbound_at, created_at, updated_at)
			VALUES ($1, $2, 'awaiting_reply', $3, $4, $5, $5, $6, $6) RETURNING id`,
			n.AccountID, n.ContactID, n.Subject, n.RootMessageID, n.InitialSentAt, now); err != nil {
			return err
		}
		return appendEvent(ctx, tx, Event{At: now, Type: "thread_started", Actor: "sync",
			ThreadID: id, ContactID: n.ContactID, ToState: string(outreach.ThreadAwaitingReply),
			Rule: "initial_email", Detail: map[string]any{"message_id": n.RootMessageID}})
	})
	return id, err
}

// ThreadState returns a thread's current state.
func (s *Store) ThreadState(ctx context.Context, id int64) (outreach.ThreadState, error) {
	var st outreach.ThreadState
	err := s.db.GetContext(ctx, &st, `SELECT state FROM threads WHERE id = $1`, id)
	return st, mapError(fmt.Sprintf("thread %d", id), err)
}
