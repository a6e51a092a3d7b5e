package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
)

// WebLogin is one login of the web page and when it last looked.
type WebLogin struct {
	Name         string     `db:"name"`
	PasswordHash string     `db:"password_hash"` // bcrypt; "" when no password is set
	LastSeenAt   *time.Time `db:"last_seen_at"`
	// VisitSince is when the visit before the current one ended; nil on
	// the first visit.
	VisitSince *time.Time `db:"visit_since"`
}

// WebLoginByName returns a login; NotFound when it was never set up.
func (s *Store) WebLoginByName(ctx context.Context, name string) (WebLogin, error) {
	var l WebLogin
	err := s.db.GetContext(ctx, &l, `SELECT name, password_hash, last_seen_at, visit_since
		FROM web_logins WHERE name = $1`, name)
	return l, mapError("web login "+name, err)
}

// SetWebPassword stores a login's password hash (bcrypt, made by the
// caller: the store never sees a password) and ends the login's sessions,
// so a changed password locks out whoever had the old one.
func (s *Store) SetWebPassword(ctx context.Context, name, hash string) error {
	return s.inTx(ctx, "set web password", func(tx *sqlx.Tx) error {
		now := s.Now()
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO web_logins (name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $3)
			ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at`,
			name, hash, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE login = $1`, name)
		return err
	})
}

// WebSession is a logged-in browser. ID is never stored: only its hash.
type WebSession struct {
	IDHash    []byte    `db:"id_hash"`
	Login     string    `db:"login"`
	CSRFToken string    `db:"csrf_token"`
	CreatedAt time.Time `db:"created_at"`
	ExpiresAt time.Time `db:"expires_at"`
}

// StartWebSession records a successful login in one transaction: the
// login row (created for a token login), a new visit, the session, and
// the removal of expired sessions.
func (s *Store) StartWebSession(ctx context.Context, sess WebSession) error {
	return s.inTx(ctx, "start web session", func(tx *sqlx.Tx) error {
		now := s.Now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO web_logins (name, created_at, updated_at) VALUES ($1, $2, $2)
			ON CONFLICT (name) DO NOTHING`, sess.Login, now); err != nil {
			return err
		}
		if _, err := touchVisit(ctx, tx, sess.Login, now, true, 0); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE expires_at <= $1`, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO web_sessions (id_hash, login, csrf_token, created_at,
			last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)`,
			sess.IDHash, sess.Login, sess.CSRFToken, now, sess.ExpiresAt)
		return err
	})
}

// WebSessionByHash returns the live session with this id hash: NotFound
// when there is none or it expired.
func (s *Store) WebSessionByHash(ctx context.Context, idHash []byte) (WebSession, error) {
	var sess WebSession
	err := s.db.GetContext(ctx, &sess, `UPDATE web_sessions SET last_seen_at = $2
		WHERE id_hash = $1 AND expires_at > $2
		RETURNING id_hash, login, csrf_token, created_at, expires_at`, idHash, s.Now())
	return sess, mapError("web session", err)
}

// EndWebSession logs a browser out; ending a session twice is a no-op.
func (s *Store) EndWebSession(ctx context.Context, idHash []byte) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_hash = $1`, idHash)
	return mapError("end web session", err)
}

// WebVisit notes that the login is looking now and returns when their
// previous visit ended (nil on the first visit). A visit is a run of
// requests without a pause longer than gap: reloading the page does not
// make today's replies old.
func (s *Store) WebVisit(ctx context.Context, login string, gap time.Duration) (*time.Time, error) {
	var since *time.Time
	err := s.inTx(ctx, "note web visit", func(tx *sqlx.Tx) error {
		var err error
		since, err = touchVisit(ctx, tx, login, s.Now(), false, gap)
		return err
	})
	return since, err
}

func touchVisit(ctx context.Context, tx *sqlx.Tx, login string, now time.Time, newVisit bool, gap time.Duration) (*time.Time, error) {
	var since *time.Time
	err := tx.GetContext(ctx, &since, `
		UPDATE web_logins SET
		       visit_since = CASE WHEN last_seen_at IS NULL THEN visit_since
		                          WHEN $3 OR last_seen_at < $2::timestamptz - $4 * interval '1 microsecond'
		                          THEN least(last_seen_at, $2) ELSE visit_since END,
		       last_seen_at = greatest(last_seen_at, $2)
		WHERE name = $1 RETURNING visit_since`, login, now, newVisit, gap.Microseconds())
	return since, err
}

// Reply is a human reply that arrived, with its thread and contact.
type Reply struct {
	MessageRow  int64      `db:"id"`
	ThreadID    int64      `db:"thread_id"`
	ThreadState string     `db:"thread_state"`
	ContactID   int64      `db:"contact_id"`
	ContactName string     `db:"contact_name"`
	Institution string     `db:"institution"`
	From        string     `db:"from_addr"`
	Subject     string     `db:"subject"`
	Date        *time.Time `db:"sent_date"`
	Snippet     string     `db:"snippet"`
	ArrivedAt   time.Time  `db:"created_at"` // when sync stored it, on our clock
}

// RepliesSince lists human replies stored after since, newest first, one
// per message (a copy in a second folder is the same reply).
func (s *Store) RepliesSince(ctx context.Context, since time.Time, limit int) ([]Reply, error) {
	var out []Reply
	err := s.db.SelectContext(ctx, &out, `
		SELECT * FROM (
			SELECT DISTINCT ON (m.thread_id, m.message_id) m.id, m.thread_id, t.state AS thread_state,
			       c.id AS contact_id, trim(c.first_name || ' ' || c.last_name) AS contact_name, c.institution,
			       m.from_addr, m.subject, m.sent_date, m.snippet, m.created_at
			FROM messages m JOIN threads t ON t.id = m.thread_id JOIN contacts c ON c.id = t.contact_id
			WHERE m.direction = 'in' AND m.kind = 'human' AND m.created_at > $1
			ORDER BY m.thread_id, m.message_id, m.id) r
		ORDER BY created_at DESC, id DESC LIMIT $2`, since, limit)
	return out, mapError("list replies", err)
}

// AddressProblem is an address that mail cannot reach.
type AddressProblem struct {
	ContactID   int64  `db:"contact_id"`
	ContactName string `db:"contact_name"`
	Address     string `db:"address"`
	Reason      string `db:"state_reason"`
}

// UndeliverableAddresses lists the addresses a permanent bounce marked.
func (s *Store) UndeliverableAddresses(ctx context.Context) ([]AddressProblem, error) {
	var out []AddressProblem
	err := s.db.SelectContext(ctx, &out, `
		SELECT a.contact_id, trim(c.first_name || ' ' || c.last_name) AS contact_name, a.address, a.state_reason
		FROM contact_addresses a JOIN contacts c ON c.id = a.contact_id
		WHERE a.state = 'undeliverable' ORDER BY lower(c.last_name), a.address`)
	return out, mapError("list undeliverable addresses", err)
}

// ContactByID returns one contact.
func (s *Store) ContactByID(ctx context.Context, id int64) (outreach.Contact, error) {
	var r contactRow
	err := s.db.GetContext(ctx, &r, contactSelect+` WHERE c.id = $1`, id)
	if err != nil {
		return outreach.Contact{}, mapError(fmt.Sprintf("contact %d", id), err)
	}
	c, err := r.contact()
	return c, mapError(fmt.Sprintf("contact %d", id), err)
}

// ContactEdit is the applicant's change to a contact's addresses and time
// zone. Addresses are the whole new list, the primary first, already
// validated and lower-cased (contactcsv.ParseAddress).
type ContactEdit struct {
	Addresses []string
	Timezone  string // IANA zone, or "" for the account's
}

// EditContact replaces a contact's addresses and time zone in one
// transaction. An address of another contact is a Conflict (one address,
// one person), and so is dropping the address an unsent draft is
// addressed to: that draft would go to someone no longer on the card.
func (s *Store) EditContact(ctx context.Context, id int64, e ContactEdit) (outreach.Contact, error) {
	if len(e.Addresses) == 0 {
		return outreach.Contact{}, outreach.Errorf(outreach.KindInvalid, "a contact needs at least one address")
	}
	err := s.inTx(ctx, fmt.Sprintf("edit contact %d", id), func(tx *sqlx.Tx) error {
		var old pq.StringArray
		if err := tx.GetContext(ctx, &old, `SELECT ARRAY(SELECT lower(address) FROM contact_addresses
			WHERE contact_id = c.id ORDER BY is_primary DESC, id) FROM contacts c WHERE c.id = $1 FOR UPDATE`, id); err != nil {
			return err
		}
		if err := checkAddressesFree(ctx, tx, id, e.Addresses); err != nil {
			return err
		}
		if err := checkNoDraftTo(ctx, tx, id, e.Addresses); err != nil {
			return err
		}
		return replaceAddresses(ctx, tx, id, old, e, s.Now())
	})
	if err != nil {
		return outreach.Contact{}, err
	}
	return s.ContactByID(ctx, id)
}

func checkAddressesFree(ctx context.Context, tx *sqlx.Tx, id int64, addrs []string) error {
	var taken []struct {
		Address   string `db:"address"`
		ContactID int64  `db:"contact_id"`
	}
	if err := tx.SelectContext(ctx, &taken, `SELECT address, contact_id FROM contact_addresses
		WHERE lower(address) = ANY($1) AND contact_id <> $2 ORDER BY address`, pq.Array(addrs), id); err != nil {
		return err
	}
	if len(taken) > 0 {
		return outreach.Errorf(outreach.KindConflict, "%s is already an address of contact %d: one address, one person",
			taken[0].Address, taken[0].ContactID)
	}
	return nil
}

func checkNoDraftTo(ctx context.Context, tx *sqlx.Tx, id int64, keep []string) error {
	var drafts []struct {
		ID int64  `db:"id"`
		To string `db:"to_addr"`
	}
	if err := tx.SelectContext(ctx, &drafts, `SELECT d.id, d.to_addr FROM drafts d JOIN threads t ON t.id = d.thread_id
		WHERE t.contact_id = $1 AND d.state IN ('proposed', 'approved', 'sending', 'retry', 'review')
		ORDER BY d.id`, id); err != nil {
		return err
	}
	for _, d := range drafts {
		if !slices.Contains(keep, strings.ToLower(d.To)) {
			return outreach.Errorf(outreach.KindConflict,
				"draft %d is addressed to %s: change its To first, or keep that address", d.ID, d.To)
		}
	}
	return nil
}

// replaceAddresses drops the addresses no longer listed, adds the new
// ones, moves the primary mark, sets the zone and logs the change.
func replaceAddresses(ctx context.Context, tx *sqlx.Tx, id int64, old []string, e ContactEdit, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM contact_addresses WHERE contact_id = $1 AND NOT lower(address) = ANY($2)`,
		id, pq.Array(e.Addresses)); err != nil {
		return err
	}
	// The old primary loses its mark first: the unique index is checked row by row.
	if _, err := tx.ExecContext(ctx, `UPDATE contact_addresses SET is_primary = false
		WHERE contact_id = $1 AND is_primary AND lower(address) <> $2`, id, e.Addresses[0]); err != nil {
		return err
	}
	primary := make([]bool, len(e.Addresses))
	primary[0] = true
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO contact_addresses (contact_id, address, is_primary, created_at)
		SELECT $1, a, p, $4 FROM unnest($2::text[], $3::boolean[]) AS u(a, p)
		ON CONFLICT (lower(address)) DO UPDATE SET is_primary = excluded.is_primary`,
		id, pq.Array(e.Addresses), pq.Array(primary), now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE contacts SET timezone = $2, updated_at = $3 WHERE id = $1`,
		id, e.Timezone, now); err != nil {
		return err
	}
	// The send window follows the contact's zone: decide their threads again.
	if _, err := tx.ExecContext(ctx, `UPDATE threads SET next_action = 'decide', next_action_at = $2
		WHERE contact_id = $1 AND next_action_at IS NOT NULL`, id, now); err != nil {
		return err
	}
	return appendEvent(ctx, tx, Event{At: now, Type: "contact_edited", Actor: "user", ContactID: id,
		Detail: map[string]any{"addresses_before": old, "addresses": e.Addresses, "timezone": e.Timezone}})
}
