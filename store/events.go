package store

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// Event is one row of the append-only decision log: what happened, to what,
// when, who decided and by which rule.
type Event struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	Type       string         `json:"type"`
	Actor      string         `json:"actor"` // sync, planner, mailer, user or system
	ThreadID   int64          `json:"thread_id,omitempty"`
	DraftID    int64          `json:"draft_id,omitempty"`
	ContactID  int64          `json:"contact_id,omitempty"`
	MessageRow int64          `json:"message_row,omitempty"`
	FromState  string         `json:"from_state,omitempty"`
	ToState    string         `json:"to_state,omitempty"`
	Rule       string         `json:"rule,omitempty"`
	Detail     map[string]any `json:"detail,omitempty"`
}

// EventFilter selects events; zero fields select everything.
type EventFilter struct {
	ThreadID  int64
	ContactID int64
	Limit     int
}

// Events returns the log, oldest first.
func (s *Store) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	rows, err := s.db.QueryxContext(ctx, `
		SELECT id, at, type, actor, coalesce(thread_id, 0), coalesce(draft_id, 0),
		       coalesce(contact_id, 0), coalesce(message_row, 0), from_state, to_state, rule, detail
		FROM events
		WHERE ($1 = 0 OR thread_id = $1) AND ($2 = 0 OR contact_id = $2)
		ORDER BY id LIMIT $3`, f.ThreadID, f.ContactID, f.Limit)
	if err != nil {
		return nil, mapError("list events", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var detail []byte
		if err := rows.Scan(&e.ID, &e.At, &e.Type, &e.Actor, &e.ThreadID, &e.DraftID,
			&e.ContactID, &e.MessageRow, &e.FromState, &e.ToState, &e.Rule, &detail); err != nil {
			return nil, mapError("scan event", err)
		}
		if err := json.Unmarshal(detail, &e.Detail); err != nil {
			return nil, mapError("decode event detail", err)
		}
		out = append(out, e)
	}
	return out, mapError("list events", rows.Err())
}

// jsonValue stores any JSON-encodable value in a json or jsonb column.
type jsonValue struct{ v any }

// Value encodes the value as JSON text.
func (j jsonValue) Value() (driver.Value, error) {
	b, err := json.Marshal(j.v)
	if err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return string(b), nil
}

var _ driver.Valuer = jsonValue{}
