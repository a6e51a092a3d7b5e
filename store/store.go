// Package store owns every SQL statement of Outreach: the schema migrations,
// and one exported method per state change, each in one transaction. It uses
// sqlx and lib/pq against PostgreSQL and maps driver errors to the domain's
// error kinds in one place. The clock is injected, and passed to SQL as a
// parameter, never read with now().
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
)

// Store is the database, shared by the daemon, the CLI and the web page.
type Store struct {
	db  *sqlx.DB
	url string // for Listen's connection of its own
	now func() time.Time
}

// Options configure Open.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxOpenConns bounds the connection pool; 0 means 10.
	MaxOpenConns int
}

// Open connects to the database at url and checks that it answers. It does
// not check the schema version: call CheckSchema (every command but migrate).
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	db, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, outreach.Errorf(outreach.KindInvalid, "database URL: %w", err)
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 10
	}
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, mapError("connect to the database", err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, url: url, now: now}, nil
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the pool for tests and for the migration runner.
func (s *Store) DB() *sqlx.DB { return s.db }

// Now is the store's clock, truncated to PostgreSQL's microsecond precision.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// inTx runs fn in one transaction: committed when fn returns nil, rolled back
// otherwise. Errors are mapped to domain kinds with op as their context.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return mapError(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return mapError(op, err)
	}
	if err := tx.Commit(); err != nil {
		return mapError(op, err)
	}
	return nil
}

// PostgreSQL error codes (Appendix A of its manual) that mean something to us.
const (
	pgUniqueViolation     = "23505"
	pgCheckViolation      = "23514"
	pgForeignKeyViolation = "23503"
	pgNotNullViolation    = "23502"
	pgSerialization       = "40001"
	pgDeadlock            = "40P01"
	pgUndefinedTable      = "42P01"
	pgConnectionClass     = "08"
	pgAdminShutdownClass  = "57"
)

// mapError wraps err with op and gives it a domain kind. It is the one place
// where driver errors become outreach errors.
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*outreach.Error); ok {
		return outreach.Errorf(outreach.KindOf(err), "%s: %w", op, err)
	}
	return outreach.Errorf(kindOf(err), "%s: %w", op, err)
}

func kindOf(err error) outreach.ErrorKind {
	var pqErr *pq.Error
	var netErr net.Error
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return outreach.KindNotFound
	case errors.As(err, &pqErr):
		return pqKind(pqErr)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return outreach.KindUnavailable
	case errors.As(err, &netErr), errors.Is(err, sql.ErrConnDone):
		return outreach.KindUnavailable
	}
	return outreach.KindInternal
}

func pqKind(e *pq.Error) outreach.ErrorKind {
	code := string(e.Code)
	switch {
	case code == pgUniqueViolation, code == pgCheckViolation, code == pgSerialization,
		code == pgDeadlock:
		return outreach.KindConflict
	case code == pgForeignKeyViolation:
		return outreach.KindNotFound
	case code == pgNotNullViolation:
		return outreach.KindInvalid
	case code == pgUndefinedTable:
		return outreach.KindSchema
	case code[:2] == pgConnectionClass, code[:2] == pgAdminShutdownClass:
		return outreach.KindUnavailable
	}
	return outreach.KindInternal
}

// Constraint names the constraint (or index) a database error broke, or "".
func Constraint(err error) string {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Constraint
	}
	return ""
}

// appendEvent writes one row of the decision log.
func appendEvent(ctx context.Context, tx *sqlx.Tx, e Event) error {
	detail := e.Detail
	if detail == nil {
		detail = map[string]any{}
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO events (at, type, actor, thread_id, draft_id, contact_id, message_row,
		                    from_state, to_state, rule, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		e.At, e.Type, e.Actor, nullID(e.ThreadID), nullID(e.DraftID), nullID(e.ContactID),
		nullID(e.MessageRow), e.FromState, e.ToState, e.Rule, jsonValue{detail})
	if err != nil {
		return fmt.Errorf("append %s event: %w", e.Type, err)
	}
	return nil
}

// errNoRows reports that a look-up found nothing (mapped to KindNotFound).
var errNoRows = sql.ErrNoRows

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
