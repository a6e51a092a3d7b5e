// Package outreach holds the domain vocabulary of Outreach: contacts, threads,
// messages, drafts, their states and legal transitions, and the error kinds
// every other package speaks. It imports only the standard library and does
// no I/O; it never reads the clock.
package outreach

import (
	"errors"
	"fmt"
)

// ErrorKind sorts failures so that the CLI (exit codes) and the web page
// (HTTP status) can react to them in one place each.
type ErrorKind string

// The error kinds. Keep this list short: a kind exists only when some caller
// reacts to it differently.
const (
	KindInvalid     ErrorKind = "invalid"     // bad input from the user: a CSV row, a config key, a flag
	KindNotFound    ErrorKind = "not_found"   // the thing asked for does not exist
	KindConflict    ErrorKind = "conflict"    // a concurrent change or an invariant won: try again or look
	KindSchema      ErrorKind = "schema"      // the database schema is behind or ahead of this binary
	KindUnavailable ErrorKind = "unavailable" // a server (database, IMAP, SMTP) cannot be reached now
	KindInternal    ErrorKind = "internal"    // a bug or an unexpected failure
)

// Error is a domain error: a kind for callers to switch on, a message for the
// user, and the cause for logs.
type Error struct {
	Kind ErrorKind
	Msg  string
	Err  error
}

// Error returns the message; Errorf already put the cause's text into it.
func (e *Error) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return string(e.Kind)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error of kind k with a formatted message; a %w verb in the
// format keeps its operand as the cause.
func Errorf(k ErrorKind, format string, args ...any) error {
	wrapped := fmt.Errorf(format, args...)
	return &Error{Kind: k, Msg: wrapped.Error(), Err: errors.Unwrap(wrapped)}
}

// KindOf reports the kind of the first *Error in err's chain, KindInternal
// when there is none, and "" for a nil error.
func KindOf(err error) ErrorKind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// IsKind reports whether err's kind is k.
func IsKind(err error, k ErrorKind) bool { return err != nil && KindOf(err) == k }
