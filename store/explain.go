package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ThreadInfo is a thread as `outreach explain` and `threads list` show it.
type ThreadInfo struct {
	ID             int64      `json:"id" db:"id"`
	Contact        string     `json:"contact" db:"contact"`
	ContactID      int64      `json:"contact_id" db:"contact_id"`
	Account        string     `json:"account" db:"account"`
	State          string     `json:"state" db:"state"`
	Subject        string     `json:"subject" db:"subject"`
	InitialSentAt  *time.Time `json:"initial_sent_at" db:"initial_sent_at"`
	LastInboundAt  *time.Time `json:"last_inbound_at" db:"last_inbound_at"`
	LastOutboundAt *time.Time `json:"last_outbound_at" db:"last_outbound_at"`
	FollowUpsSent  int        `json:"followups_sent" db:"followups_sent"`
	PausedUntil    *time.Time `json:"paused_until" db:"paused_until"`
	ClosedReason   string     `json:"closed_reason" db:"closed_reason"`
	NextAction     string     `json:"next_action" db:"next_action"`
	NextActionAt   *time.Time `json:"next_action_at" db:"next_action_at"`
}

// MessageInfo is a stored message with its classification and threading.
type MessageInfo struct {
	ID             int64           `json:"id" db:"id"`
	Mailbox        string          `json:"mailbox" db:"mailbox"`
	MessageID      string          `json:"message_id" db:"message_id"`
	From           string          `json:"from" db:"from_addr"`
	Subject        string          `json:"subject" db:"subject"`
	Date           *time.Time      `json:"date" db:"sent_date"`
	Direction      string          `json:"direction" db:"direction"`
	Kind           *string         `json:"kind" db:"kind"`
	Classification json.RawMessage `json:"classification" db:"classification"`
	ThreadID       *int64          `json:"thread_id" db:"thread_id"`
	ThreadRule     string          `json:"thread_rule" db:"thread_rule"`
	ParseError     string          `json:"parse_error,omitempty" db:"parse_error"`
}

const threadInfoSelect = `
	SELECT t.id, coalesce((SELECT address FROM contact_addresses a WHERE a.contact_id = t.contact_id
	       ORDER BY a.is_primary DESC, a.id LIMIT 1), '') AS contact, t.contact_id, ac.name AS account, t.state,
	       t.subject, t.initial_sent_at, t.last_inbound_at, t.last_outbound_at, t.followups_sent, t.paused_until,
	       t.closed_reason, t.next_action, t.next_action_at
	FROM threads t JOIN accounts ac ON ac.id = t.account_id`

// Thread returns one thread.
func (s *Store) Thread(ctx context.Context, id int64) (ThreadInfo, error) {
	var t ThreadInfo
	err := s.db.GetContext(ctx, &t, threadInfoSelect+` WHERE t.id = $1`, id)
	return t, mapError(fmt.Sprintf("thread %d", id), err)
}

const messageInfoSelect = `
	SELECT m.id, b.name AS mailbox, m.message_id, m.from_addr, m.subject, m.sent_date, m.direction, m.kind,
	       coalesce(m.classification, 'null') AS classification, m.thread_id, m.thread_rule, m.parse_error
	FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id`

// ThreadMessages lists a thread's messages, oldest first.
func (s *Store) ThreadMessages(ctx context.Context, threadID int64) ([]MessageInfo, error) {
	var out []MessageInfo
	err := s.db.SelectContext(ctx, &out, messageInfoSelect+` WHERE m.thread_id = $1
		ORDER BY coalesce(m.sent_date, m.internal_date), m.id`, threadID)
	return out, mapError("list thread messages", err)
}

// MessagesByMessageID finds the stored copies of a message (one per mailbox
// it is in), by Message-ID with or without angle brackets.
func (s *Store) MessagesByMessageID(ctx context.Context, messageID string) ([]MessageInfo, error) {
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(messageID), "<"), ">")
	var out []MessageInfo
	err := s.db.SelectContext(ctx, &out, messageInfoSelect+` WHERE m.message_id = $1 ORDER BY m.id`, id)
	if err == nil && len(out) == 0 {
		return nil, mapError("find message <"+id+">", errNoRows)
	}
	return out, mapError("find message <"+id+">", err)
}
