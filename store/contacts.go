package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
)

// ImportRequest is a batch of contacts to create or update in one
// transaction.
type ImportRequest struct {
	// Columns are the known columns the input had (outreach.ContactColumns);
	// an existing contact keeps its value for any column not listed.
	Columns []string
	Rows    []outreach.ContactRow
	// SkipInvalid imports the rows that can be imported and reports the
	// others; without it, any refused row means nothing is imported.
	SkipInvalid bool
	// CreateOnly refuses rows that match an existing contact.
	CreateOnly bool
	// DryRun reports what the import would do and writes nothing.
	DryRun bool
}

// ImportReport says what an import did.
type ImportReport struct {
	Created int                 `json:"created"`
	Updated int                 `json:"updated"`
	Refused []outreach.RowError `json:"refused"`
}

// ErrRowsRefused is the kind of error ImportContacts returns when rows were
// refused and SkipInvalid was not set: the report lists them.
var ErrRowsRefused = outreach.Errorf(outreach.KindInvalid, "rows refused; nothing was imported")

// importPlan sorts rows into new contacts and updates of existing ones.
type importPlan struct {
	create  []outreach.ContactRow
	update  []outreach.ContactRow // Contact.ID is the existing contact
	refused []outreach.RowError
}

// ImportContacts creates or updates contacts. A contact is matched by any of
// its addresses, so a re-import updates and never duplicates. Rows that
// would merge two existing contacts, or (CreateOnly) match one, are refused.
func (s *Store) ImportContacts(ctx context.Context, req ImportRequest) (ImportReport, error) {
	var rep ImportReport
	err := s.inTx(ctx, "import contacts", func(tx *sqlx.Tx) error {
		// Imports take turns, so two of them cannot both create one address.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('outreach.contacts.import'))`); err != nil {
			return err
		}
		plan, err := planImport(ctx, tx, req)
		if err != nil {
			return err
		}
		rep = ImportReport{Created: len(plan.create), Updated: len(plan.update), Refused: plan.refused}
		if len(plan.refused) > 0 && !req.SkipInvalid {
			rep.Created, rep.Updated = 0, 0
			return ErrRowsRefused
		}
		if req.DryRun {
			return errDryRun
		}
		now := s.Now()
		if err := insertContacts(ctx, tx, plan.create, now); err != nil {
			return err
		}
		if err := updateContacts(ctx, tx, req.Columns, plan.update, now); err != nil {
			return err
		}
		return insertAddresses(ctx, tx, append(plan.create, plan.update...), now)
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	return rep, err
}

// errDryRun rolls a dry run's transaction back.
var errDryRun = errors.New("dry run")

func planImport(ctx context.Context, tx *sqlx.Tx, req ImportRequest) (importPlan, error) {
	var all []string
	for _, r := range req.Rows {
		all = append(all, r.Contact.Addresses...)
	}
	owners := map[string]int64{}
	rows, err := tx.QueryContext(ctx, `
		SELECT lower(address), contact_id FROM contact_addresses
		WHERE lower(address) = ANY($1::text[])`, pq.Array(all))
	if err != nil {
		return importPlan{}, fmt.Errorf("look up addresses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a string
		var id int64
		if err := rows.Scan(&a, &id); err != nil {
			return importPlan{}, err
		}
		owners[a] = id
	}
	if err := rows.Err(); err != nil {
		return importPlan{}, err
	}
	var plan importPlan
	for _, r := range req.Rows {
		ids := matchedContacts(r.Contact.Addresses, owners)
		switch {
		case len(ids) > 1:
			plan.refused = append(plan.refused, outreach.RowError{Line: r.Line, Reason: fmt.Sprintf(
				"its addresses belong to %d different contacts (ids %s); merge them by hand", len(ids), joinIDs(ids))})
		case len(ids) == 1 && req.CreateOnly:
			plan.refused = append(plan.refused, outreach.RowError{Line: r.Line, Reason: fmt.Sprintf(
				"%s is already contact %d", r.Contact.Email, ids[0])})
		case len(ids) == 1:
			r.Contact.ID = ids[0]
			plan.update = append(plan.update, r)
		default:
			plan.create = append(plan.create, r)
		}
	}
	return plan, nil
}

func matchedContacts(addrs []string, owners map[string]int64) []int64 {
	var ids []int64
	for _, a := range addrs {
		if id, ok := owners[a]; ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}

// contactArrays holds one column per array, for INSERT ... SELECT FROM unnest:
// one round trip for any number of rows.
type contactArrays struct {
	ids                                                []int64
	first, last, title, inst, tz, notes, extra, emails []string
}

func toArrays(rows []outreach.ContactRow) (contactArrays, error) {
	var a contactArrays
	for _, r := range rows {
		c := r.Contact
		extra, err := json.Marshal(nonNilMap(c.Extra))
		if err != nil {
			return a, err
		}
		a.ids = append(a.ids, c.ID)
		a.first, a.last = append(a.first, c.FirstName), append(a.last, c.LastName)
		a.title, a.inst = append(a.title, c.Title), append(a.inst, c.Institution)
		a.tz, a.notes = append(a.tz, c.Timezone), append(a.notes, c.Notes)
		a.extra, a.emails = append(a.extra, string(extra)), append(a.emails, c.Email)
	}
	return a, nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func insertContacts(ctx context.Context, tx *sqlx.Tx, rows []outreach.ContactRow, now time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	// Take the ids first, so that each row's addresses know their contact.
	var ids []int64
	if err := tx.SelectContext(ctx, &ids,
		`SELECT nextval('contacts_id_seq') FROM generate_series(1, $1)`, len(rows)); err != nil {
		return fmt.Errorf("allocate contact ids: %w", err)
	}
	for i := range rows {
		rows[i].Contact.ID = ids[i]
	}
	a, err := toArrays(rows)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO contacts (id, first_name, last_name, title, institution, timezone, notes, extra,
		                      created_at, updated_at)
		SELECT id, f, l, t, i, tz, n, e::jsonb, $9, $9
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
		            $7::text[], $8::text[]) AS u(id, f, l, t, i, tz, n, e)`,
		pq.Array(a.ids), pq.Array(a.first), pq.Array(a.last), pq.Array(a.title), pq.Array(a.inst),
		pq.Array(a.tz), pq.Array(a.notes), pq.Array(a.extra), now)
	if err != nil {
		return fmt.Errorf("insert contacts: %w", err)
	}
	return nil
}

// updateContacts overwrites the columns the input had and merges extra
// columns; the primary address becomes the row's email.
func updateContacts(ctx context.Context, tx *sqlx.Tx, cols []string, rows []outreach.ContactRow, now time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	a, err := toArrays(rows)
	if err != nil {
		return err
	}
	has := func(c string) bool { return slices.Contains(cols, c) }
	_, err = tx.ExecContext(ctx, `
		UPDATE contacts c SET
			first_name  = CASE WHEN $10 THEN u.f ELSE c.first_name END,
			last_name   = CASE WHEN $11 THEN u.l ELSE c.last_name END,
			title       = CASE WHEN $12 THEN u.t ELSE c.title END,
			institution = CASE WHEN $13 THEN u.i ELSE c.institution END,
			timezone    = CASE WHEN $14 THEN u.tz ELSE c.timezone END,
			notes       = CASE WHEN $15 THEN u.n ELSE c.notes END,
			extra       = c.extra || u.e::jsonb,
			updated_at  = $9
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
		            $7::text[], $8::text[]) AS u(id, f, l, t, i, tz, n, e)
		WHERE c.id = u.id`,
		pq.Array(a.ids), pq.Array(a.first), pq.Array(a.last), pq.Array(a.title), pq.Array(a.inst),
		pq.Array(a.tz), pq.Array(a.notes), pq.Array(a.extra), now,
		has("first_name"), has("last_name"), has("title"), has("institution"), has("timezone"), has("notes"))
	if err != nil {
		return fmt.Errorf("update contacts: %w", err)
	}
	// Two statements: a unique index is checked row by row, so the old
	// primary must lose the mark before the new one gets it.
	_, err = tx.ExecContext(ctx, `
		UPDATE contact_addresses ca SET is_primary = false
		FROM unnest($1::bigint[], $2::text[]) AS u(id, email)
		WHERE ca.contact_id = u.id AND ca.is_primary AND lower(ca.address) <> u.email`,
		pq.Array(a.ids), pq.Array(a.emails))
	if err != nil {
		return fmt.Errorf("update primary addresses: %w", err)
	}
	return nil
}

// insertAddresses adds every row's addresses; those already known keep their
// row, and the row's email becomes its contact's primary address.
func insertAddresses(ctx context.Context, tx *sqlx.Tx, rows []outreach.ContactRow, now time.Time) error {
	var ids []int64
	var addrs []string
	var primary []bool
	for _, r := range rows {
		for i, addr := range r.Contact.Addresses {
			ids, addrs, primary = append(ids, r.Contact.ID), append(addrs, addr), append(primary, i == 0)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO contact_addresses (contact_id, address, is_primary, created_at)
		SELECT id, a, p, $4 FROM unnest($1::bigint[], $2::text[], $3::boolean[]) AS u(id, a, p)
		ON CONFLICT (lower(address)) DO UPDATE SET is_primary = excluded.is_primary
		WHERE contact_addresses.is_primary <> excluded.is_primary AND excluded.is_primary`,
		pq.Array(ids), pq.Array(addrs), pq.Array(primary), now)
	if err != nil {
		return fmt.Errorf("insert addresses: %w", err)
	}
	return nil
}

// contactRow is the shape of a contact as selected by contactSelect.
type contactRow struct {
	ID            int64          `db:"id"`
	FirstName     string         `db:"first_name"`
	LastName      string         `db:"last_name"`
	Title         string         `db:"title"`
	Institution   string         `db:"institution"`
	Timezone      string         `db:"timezone"`
	Notes         string         `db:"notes"`
	Extra         []byte         `db:"extra"`
	BlockedAt     pq.NullTime    `db:"blocked_at"`
	BlockedReason string         `db:"blocked_reason"`
	CreatedAt     pq.NullTime    `db:"created_at"`
	UpdatedAt     pq.NullTime    `db:"updated_at"`
	Addresses     pq.StringArray `db:"addresses"`
	Policy        []byte         `db:"policy"`
}

const contactSelect = `
	SELECT c.id, c.first_name, c.last_name, c.title, c.institution, c.timezone, c.notes, c.extra,
	       c.blocked_at, c.blocked_reason, c.created_at, c.updated_at, c.policy,
	       ARRAY(SELECT address FROM contact_addresses a WHERE a.contact_id = c.id
	             ORDER BY a.is_primary DESC, a.id) AS addresses
	FROM contacts c`

func (r contactRow) contact() (outreach.Contact, error) {
	c := outreach.Contact{ID: r.ID, FirstName: r.FirstName, LastName: r.LastName, Title: r.Title,
		Institution: r.Institution, Timezone: r.Timezone, Notes: r.Notes,
		BlockedReason: r.BlockedReason, Addresses: r.Addresses,
		CreatedAt: r.CreatedAt.Time.UTC(), UpdatedAt: r.UpdatedAt.Time.UTC()}
	if len(c.Addresses) > 0 {
		c.Email = c.Addresses[0]
	}
	if r.BlockedAt.Valid {
		t := r.BlockedAt.Time.UTC()
		c.BlockedAt = &t
	}
	if len(r.Policy) > 0 {
		if err := json.Unmarshal(r.Policy, &c.Policy); err != nil {
			return c, fmt.Errorf("contact %d: policy: %w", r.ID, err)
		}
	}
	if err := json.Unmarshal(r.Extra, &c.Extra); err != nil {
		return c, fmt.Errorf("contact %d: extra columns: %w", r.ID, err)
	}
	return c, nil
}

// ContactFilter selects contacts; the zero value selects all.
type ContactFilter struct {
	Blocked *bool  // only blocked (true) or only not blocked (false)
	Search  string // a substring of a name, institution or address, any case
}

// Contacts lists contacts by last name, first name and id.
func (s *Store) Contacts(ctx context.Context, f ContactFilter) ([]outreach.Contact, error) {
	var rows []contactRow
	err := s.db.SelectContext(ctx, &rows, contactSelect+`
		WHERE ($1::boolean IS NULL OR (c.blocked_at IS NOT NULL) = $1)
		  AND ($2 = '' OR strpos(lower(c.first_name || ' ' || c.last_name || ' ' || c.institution), lower($2)) > 0
		       OR EXISTS (SELECT 1 FROM contact_addresses a WHERE a.contact_id = c.id
		                  AND strpos(lower(a.address), lower($2)) > 0))
		ORDER BY lower(c.last_name), lower(c.first_name), c.id`, f.Blocked, f.Search)
	if err != nil {
		return nil, mapError("list contacts", err)
	}
	out := make([]outreach.Contact, 0, len(rows))
	for _, r := range rows {
		c, err := r.contact()
		if err != nil {
			return nil, mapError("list contacts", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// ContactByAddress finds the contact one of whose addresses is addr.
func (s *Store) ContactByAddress(ctx context.Context, addr string) (outreach.Contact, error) {
	var r contactRow
	err := s.db.GetContext(ctx, &r, contactSelect+`
		WHERE c.id = (SELECT contact_id FROM contact_addresses WHERE lower(address) = lower($1))`,
		strings.TrimSpace(addr))
	if err != nil {
		return outreach.Contact{}, mapError("find contact "+addr, err)
	}
	c, err := r.contact()
	return c, mapError("find contact "+addr, err)
}

// BlockContact puts the person behind addr on the do-not-contact list: every
// address of theirs, every open thread (moved to blocked) and every draft not
// yet on its way (superseded). Blocking twice is a no-op. It returns the
// contact as blocked.
func (s *Store) BlockContact(ctx context.Context, addr, reason string) (outreach.Contact, error) {
	c, err := s.ContactByAddress(ctx, addr)
	if err != nil {
		return c, err
	}
	err = s.inTx(ctx, "block "+addr, func(tx *sqlx.Tx) error {
		now := s.Now()
		res, err := tx.ExecContext(ctx, `
			UPDATE contacts SET blocked_at = $2, blocked_reason = $3, updated_at = $2
			WHERE id = $1 AND blocked_at IS NULL`, c.ID, now, reason)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // already blocked
		}
		if err := appendEvent(ctx, tx, Event{At: now, Type: "contact_blocked", Actor: "user",
			ContactID: c.ID, Rule: "do_not_contact", Detail: map[string]any{"reason": reason}}); err != nil {
			return err
		}
		return blockThreads(ctx, tx, c.ID, now)
	})
	if err != nil {
		return c, err
	}
	return s.ContactByAddress(ctx, addr)
}

// blockThreads moves the contact's threads to blocked and supersedes their
// drafts that have not started sending, logging each change. A draft already
// sending is the mailer's to stop: it re-checks the thread before SMTP.
func blockThreads(ctx context.Context, tx *sqlx.Tx, contactID int64, now time.Time) error {
	var drafts []struct {
		ID       int64  `db:"id"`
		ThreadID int64  `db:"thread_id"`
		State    string `db:"state"`
	}
	if err := tx.SelectContext(ctx, &drafts, `
		SELECT d.id, d.thread_id, d.state FROM drafts d JOIN threads t ON t.id = d.thread_id
		WHERE t.contact_id = $1 AND d.state IN ('proposed', 'approved', 'retry')
		ORDER BY d.id FOR UPDATE OF d`, contactID); err != nil {
		return fmt.Errorf("find drafts: %w", err)
	}
	for _, d := range drafts {
		if _, err := tx.ExecContext(ctx, `UPDATE drafts SET state = 'superseded', updated_at = $2 WHERE id = $1`,
			d.ID, now); err != nil {
			return fmt.Errorf("supersede draft %d: %w", d.ID, err)
		}
		if err := appendEvent(ctx, tx, Event{At: now, Type: "draft_superseded", Actor: "user",
			ThreadID: d.ThreadID, DraftID: d.ID, ContactID: contactID, FromState: d.State,
			ToState: string(outreach.DraftSuperseded), Rule: "do_not_contact"}); err != nil {
			return err
		}
	}
	var threads []struct {
		ID    int64  `db:"id"`
		State string `db:"state"`
	}
	if err := tx.SelectContext(ctx, &threads, `
		SELECT id, state FROM threads WHERE contact_id = $1 AND state <> 'blocked'
		ORDER BY id FOR UPDATE`, contactID); err != nil {
		return fmt.Errorf("find threads: %w", err)
	}
	for _, t := range threads {
		if _, err := tx.ExecContext(ctx, `
			UPDATE threads SET state = 'blocked', paused_until = NULL, closed_at = NULL,
			       next_action = '', next_action_at = NULL, version = version + 1, updated_at = $2
			WHERE id = $1`, t.ID, now); err != nil {
			return fmt.Errorf("block thread %d: %w", t.ID, err)
		}
		if err := appendEvent(ctx, tx, Event{At: now, Type: "thread_blocked", Actor: "user",
			ThreadID: t.ID, ContactID: contactID, FromState: t.State,
			ToState: string(outreach.ThreadBlocked), Rule: "do_not_contact"}); err != nil {
			return err
		}
	}
	return nil
}
