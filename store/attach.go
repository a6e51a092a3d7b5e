package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
)

// PendingMessage is a stored message waiting to be attached to a thread.
type PendingMessage struct {
	ID        int64
	AccountID int64
	MessageID string
	From      string
	To, Cc    []string
	Subject   string
	Date      time.Time
	Direction outreach.Direction
	Kind      outreach.MessageKind // "" when not classified (our own mail)
	RefersTo  []string             // In-Reply-To, References and what classification found
}

// ThreadCandidate is a thread a pending message might belong to.
type ThreadCandidate struct {
	ThreadID          int64
	ContactID         int64
	ContactAddresses  []string
	NormalizedSubject string
	Open              bool
	LastOutboundAt    time.Time
}

// ThreadingFacts is what the database knows around a pending message.
type ThreadingFacts struct {
	Own        []string         // the applicant's addresses
	ThreadOf   map[string]int64 // Message-ID -> thread, for the ids the message refers to
	Candidates []ThreadCandidate
}

// Attachment is the threading decision to record for a message.
type Attachment struct {
	ThreadID          int64
	ContactID         int64
	NewThread         bool   // start a thread: our first email to ContactID
	NormalizedSubject string // for a new thread
	Touch             bool
	RelatedAddress    string
	Rule              string
	Confidence        outreach.Confidence
	Evidence          string
}

// AttachPending attaches up to limit waiting messages to threads, one
// transaction per message, deciding with decide (rules.Attach). Messages
// are claimed with SKIP LOCKED, so several daemons can share the work, and
// a crash leaves the rest waiting. It returns how many it attached.
func (s *Store) AttachPending(ctx context.Context, limit int, decide func(PendingMessage, ThreadingFacts) Attachment) (int, error) {
	done := 0
	for done < limit {
		found := false
		err := s.inTx(ctx, "attach message to thread", func(tx *sqlx.Tx) error {
			m, ok, err := claimPending(ctx, tx)
			if err != nil || !ok {
				return err
			}
			found = true
			facts, err := threadingFacts(ctx, tx, m)
			if err != nil {
				return err
			}
			return s.applyAttachment(ctx, tx, m, decide(m, facts))
		})
		if err != nil {
			return done, err
		}
		if !found {
			return done, nil
		}
		done++
	}
	return done, nil
}

type pendingRow struct {
	ID             int64          `db:"id"`
	AccountID      int64          `db:"account_id"`
	MessageID      string         `db:"message_id"`
	From           string         `db:"from_addr"`
	To             pq.StringArray `db:"to_addrs"`
	Cc             pq.StringArray `db:"cc_addrs"`
	Subject        string         `db:"subject"`
	SentDate       pq.NullTime    `db:"sent_date"`
	InternalDate   pq.NullTime    `db:"internal_date"`
	Direction      string         `db:"direction"`
	Kind           *string        `db:"kind"`
	InReplyTo      pq.StringArray `db:"in_reply_to"`
	Refs           pq.StringArray `db:"refs"`
	Classification []byte         `db:"classification"`
}

func claimPending(ctx context.Context, tx *sqlx.Tx) (PendingMessage, bool, error) {
	var r pendingRow
	err := tx.GetContext(ctx, &r, `
		SELECT m.id, b.account_id, m.message_id, m.from_addr, m.to_addrs, m.cc_addrs, m.subject, m.sent_date,
		       m.internal_date, m.direction, m.kind, m.in_reply_to, m.refs, m.classification
		FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
		WHERE m.attached_at IS NULL AND m.raw IS NOT NULL
		ORDER BY m.direction = 'in', m.id LIMIT 1 FOR UPDATE OF m SKIP LOCKED`)
	if kindOf(err) == outreach.KindNotFound {
		return PendingMessage{}, false, nil
	}
	if err != nil {
		return PendingMessage{}, false, err
	}
	m := PendingMessage{ID: r.ID, AccountID: r.AccountID, MessageID: r.MessageID, From: strings.ToLower(r.From),
		To: lowerAll(r.To), Cc: lowerAll(r.Cc), Subject: r.Subject, Direction: outreach.Direction(r.Direction)}
	m.Date = r.SentDate.Time
	if !r.SentDate.Valid {
		m.Date = r.InternalDate.Time
	}
	if r.Kind != nil {
		m.Kind = outreach.MessageKind(*r.Kind)
	}
	m.RefersTo = append(append([]string(nil), r.InReplyTo...), r.Refs...)
	var c struct {
		RefersTo []string `json:"refers_to"`
	}
	if len(r.Classification) > 0 && json.Unmarshal(r.Classification, &c) == nil {
		m.RefersTo = appendNew(m.RefersTo, c.RefersTo...)
	}
	return m, true, nil
}

func appendNew(list []string, more ...string) []string {
	seen := toSet(list)
	for _, x := range more {
		if !seen[x] {
			list, seen[x] = append(list, x), true
		}
	}
	return list
}

func threadingFacts(ctx context.Context, tx *sqlx.Tx, m PendingMessage) (ThreadingFacts, error) {
	f := ThreadingFacts{ThreadOf: map[string]int64{}}
	if err := tx.SelectContext(ctx, &f.Own, `SELECT lower(email) FROM accounts`); err != nil {
		return f, err
	}
	var refs []struct {
		MessageID string `db:"message_id"`
		ThreadID  int64  `db:"thread_id"`
	}
	if err := tx.SelectContext(ctx, &refs, `
		SELECT message_id, thread_id FROM messages WHERE message_id = ANY($1::text[]) AND thread_id IS NOT NULL
		UNION SELECT message_id, thread_id FROM drafts WHERE message_id = ANY($1::text[])`,
		pq.Array(cleanAll(m.RefersTo))); err != nil {
		return f, err
	}
	for _, r := range refs {
		f.ThreadOf[r.MessageID] = r.ThreadID
	}
	var err error
	f.Candidates, err = candidates(ctx, tx, m)
	return f, err
}

// candidates are the threads (and, for a contact without one, a thread-less
// entry) of every contact the message is from or to, or that shares the
// sender's domain.
func candidates(ctx context.Context, tx *sqlx.Tx, m PendingMessage) ([]ThreadCandidate, error) {
	addrs := append(append([]string{m.From}, m.To...), m.Cc...)
	dom := ""
	if i := strings.LastIndexByte(m.From, '@'); i >= 0 && m.Direction == outreach.Inbound {
		dom = m.From[i+1:]
	}
	var rows []struct {
		ThreadID  *int64         `db:"thread_id"`
		ContactID int64          `db:"contact_id"`
		Addresses pq.StringArray `db:"addresses"`
		Subject   string         `db:"normalized_subject"`
		State     *string        `db:"state"`
		LastOutAt pq.NullTime    `db:"last_outbound_at"`
	}
	err := tx.SelectContext(ctx, &rows, `
		WITH cs AS (
			SELECT DISTINCT contact_id FROM contact_addresses
			WHERE lower(address) = ANY($1::text[]) OR ($2 <> '' AND lower(split_part(address, '@', 2)) = $2))
		SELECT t.id AS thread_id, cs.contact_id,
		       ARRAY(SELECT lower(address) FROM contact_addresses a WHERE a.contact_id = cs.contact_id) AS addresses,
		       coalesce(t.normalized_subject, '') AS normalized_subject, t.state, t.last_outbound_at
		FROM cs LEFT JOIN threads t ON t.contact_id = cs.contact_id
		ORDER BY cs.contact_id, t.id`, pq.Array(lowerAll(addrs)), dom)
	if err != nil {
		return nil, fmt.Errorf("thread candidates: %w", err)
	}
	out := make([]ThreadCandidate, 0, len(rows))
	for _, r := range rows {
		c := ThreadCandidate{ContactID: r.ContactID, ContactAddresses: r.Addresses, NormalizedSubject: r.Subject,
			LastOutboundAt: r.LastOutAt.Time}
		if r.ThreadID != nil {
			c.ThreadID = *r.ThreadID
			c.Open = r.State != nil && openThreadState(outreach.ThreadState(*r.State))
		}
		out = append(out, c)
	}
	return out, nil
}

// openThreadState: a conversation is open until it is closed; a replied or
// bounced thread still collects what arrives in it.
func openThreadState(s outreach.ThreadState) bool {
	return s != outreach.ThreadClosedNoResponse && s != outreach.ThreadClosedByUser && s != outreach.ThreadBlocked
}

func (s *Store) applyAttachment(ctx context.Context, tx *sqlx.Tx, m PendingMessage, a Attachment) error {
	now := s.Now()
	if a.NewThread && a.ContactID != 0 {
		id, err := startThread(ctx, tx, m, a, now)
		if err != nil {
			return err
		}
		a.ThreadID = id
	}
	if _, err := tx.ExecContext(ctx, `UPDATE messages SET attached_at = $2, thread_id = $3, contact_id = $4,
		thread_rule = $5 WHERE id = $1`, m.ID, now, nullID(a.ThreadID), nullID(a.ContactID), a.Rule); err != nil {
		return fmt.Errorf("attach message %d: %w", m.ID, err)
	}
	if a.ThreadID == 0 {
		return nil
	}
	if err := touchThread(ctx, tx, a.ThreadID, m, now); err != nil {
		return err
	}
	if a.RelatedAddress != "" && a.ContactID != 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO contact_related_addresses (contact_id, address, message_row, created_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, a.ContactID, a.RelatedAddress, m.ID, now); err != nil {
			return fmt.Errorf("record related address: %w", err)
		}
	}
	return appendEvent(ctx, tx, Event{At: now, Type: "message_attached", Actor: "sync", ThreadID: a.ThreadID,
		ContactID: a.ContactID, MessageRow: m.ID, Rule: a.Rule, Detail: map[string]any{
			"confidence": a.Confidence, "evidence": a.Evidence, "touch": a.Touch, "kind": m.Kind,
			"direction": m.Direction, "related_address": a.RelatedAddress}})
}

// startThread begins a conversation with our first email to a contact;
// nothing starts for a blocked contact.
func startThread(ctx context.Context, tx *sqlx.Tx, m PendingMessage, a Attachment, now time.Time) (int64, error) {
	var blocked bool
	if err := tx.GetContext(ctx, &blocked, `SELECT blocked_at IS NOT NULL FROM contacts WHERE id = $1`, a.ContactID); err != nil {
		return 0, err
	}
	if blocked {
		return 0, nil
	}
	var id int64
	if err := tx.GetContext(ctx, &id, `
		INSERT INTO threads (account_id, contact_id, state, subject, normalized_subject, root_message_id,
		                     initial_sent_at, last_outbound_at, next_action, next_action_at, created_at, updated_at)
		VALUES ($1, $2, 'awaiting_reply', $3, $4, $5, $6, $6, 'decide', $7, $7, $7) RETURNING id`,
		m.AccountID, a.ContactID, m.Subject, a.NormalizedSubject, m.MessageID, m.Date, now); err != nil {
		return 0, fmt.Errorf("start thread: %w", err)
	}
	if err := reopenStrays(ctx, tx, a.ContactID, m.MessageID); err != nil {
		return 0, err
	}
	return id, appendEvent(ctx, tx, Event{At: now, Type: "thread_started", Actor: "sync", ThreadID: id,
		ContactID: a.ContactID, MessageRow: m.ID, ToState: string(outreach.ThreadAwaitingReply), Rule: "initial_email",
		Detail: map[string]any{"message_id": m.MessageID, "evidence": a.Evidence}})
}

// reopenStrays puts back in the queue the incoming messages that found no
// thread but may belong to the one just started: a reply synced from INBOX
// before our email was synced from Sent, a bounce reporting on it. They
// come from one of the contact's addresses or their domain (a coordinator),
// or refer to the new thread's first Message-ID; the threading rules then
// decide again.
func reopenStrays(ctx context.Context, tx *sqlx.Tx, contactID int64, rootID string) error {
	_, err := tx.ExecContext(ctx, `
		UPDATE messages SET attached_at = NULL, thread_rule = ''
		WHERE thread_id IS NULL AND attached_at IS NOT NULL AND raw IS NOT NULL AND direction = 'in'
		  AND (lower(from_addr) IN (SELECT lower(address) FROM contact_addresses WHERE contact_id = $1)
		       OR split_part(lower(from_addr), '@', 2) IN (SELECT split_part(lower(address), '@', 2)
		                                                    FROM contact_addresses WHERE contact_id = $1)
		       OR ($2 <> '' AND ($2 = ANY(in_reply_to) OR $2 = ANY(refs)
		                         OR coalesce(classification->'refers_to', '[]') ? $2)))`, contactID, rootID)
	if err != nil {
		return fmt.Errorf("requeue unthreaded mail: %w", err)
	}
	return nil
}

// touchThread records the message's time on its thread and asks the
// planner to decide again now.
func touchThread(ctx context.Context, tx *sqlx.Tx, threadID int64, m PendingMessage, now time.Time) error {
	col := "last_inbound_at"
	if m.Direction == outreach.Outbound {
		col = "last_outbound_at"
	}
	_, err := tx.ExecContext(ctx, `UPDATE threads SET `+col+` = GREATEST(`+col+`, $2),
		next_action = 'decide', next_action_at = LEAST(coalesce(next_action_at, $3), $3), updated_at = $3
		WHERE id = $1`, threadID, m.Date, now)
	if err != nil {
		return fmt.Errorf("update thread %d: %w", threadID, err)
	}
	return nil
}
