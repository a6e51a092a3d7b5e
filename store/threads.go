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

// UserAction is something the applicant does to a thread by hand.
type UserAction string

// The applicant's actions on a thread; each is part of the thread's history.
const (
	ActionPause  UserAction = "user_pause"
	ActionResume UserAction = "user_resume"
	ActionClose  UserAction = "user_close"
	ActionReopen UserAction = "user_reopen"
)

// RecordUserAction appends the applicant's action to the thread's history
// and makes the thread due, so the planner decides again at once. until,
// for a pause, ends it (nil: until resumed).
func (s *Store) RecordUserAction(ctx context.Context, threadID int64, a UserAction, until *time.Time, note string) error {
	return s.inTx(ctx, fmt.Sprintf("thread %d: %s", threadID, a), func(tx *sqlx.Tx) error {
		var contactID int64
		if err := tx.GetContext(ctx, &contactID, `SELECT contact_id FROM threads WHERE id = $1 FOR UPDATE`, threadID); err != nil {
			return err
		}
		now, err := threadClock(ctx, tx, threadID, s.Now())
		if err != nil {
			return err
		}
		detail := map[string]any{}
		if until != nil {
			detail["until"] = until.UTC().Format(time.RFC3339)
		}
		if note != "" {
			detail["note"] = note
		}
		if err := appendEvent(ctx, tx, Event{At: now, Type: string(a), Actor: "user", ThreadID: threadID,
			ContactID: contactID, Detail: detail}); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE threads SET next_action = 'decide', next_action_at = $2 WHERE id = $1`,
			threadID, now)
		return err
	})
}

// ThreadFilter selects threads; zero fields select everything.
type ThreadFilter struct {
	State     outreach.ThreadState
	ContactID int64
	// DueBefore, when set, selects threads with a next action before it.
	DueBefore *time.Time
}

// ThreadListing is a thread with its contact's primary address.
type ThreadListing struct {
	ThreadRow
	Contact     string `db:"contact" json:"contact"`
	ContactName string `db:"contact_name" json:"contact_name"`
}

// Threads lists threads, by next action time (soonest first), then id.
func (s *Store) Threads(ctx context.Context, f ThreadFilter) ([]ThreadListing, error) {
	var out []ThreadListing
	err := s.db.SelectContext(ctx, &out, `
		SELECT `+threadColumns+`,
		       coalesce((SELECT address FROM contact_addresses a WHERE a.contact_id = t.contact_id
		                 ORDER BY a.is_primary DESC, a.id LIMIT 1), '') AS contact,
		       trim(c.first_name || ' ' || c.last_name) AS contact_name
		FROM threads t JOIN contacts c ON c.id = t.contact_id
		WHERE ($1 = '' OR t.state = $1) AND ($2 = 0 OR t.contact_id = $2)
		  AND ($3::timestamptz IS NULL OR t.next_action_at < $3)
		ORDER BY t.next_action_at NULLS LAST, t.id`, string(f.State), f.ContactID, f.DueBefore)
	return out, mapError("list threads", err)
}
