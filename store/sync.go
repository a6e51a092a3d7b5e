package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
)

// Cursor is the sync state of one mailbox (RFC 3501 UIDVALIDITY and UIDNEXT,
// RFC 7162 HIGHESTMODSEQ), stored in the same transaction as the messages it
// accounts for.
type Cursor struct {
	UIDValidity   uint32 `json:"uidvalidity"`
	UIDNext       uint32 `json:"uidnext"`
	HighestUID    uint32 `json:"highest_uid"`
	HighestModSeq uint64 `json:"highestmodseq"`
	Messages      uint32 `json:"messages"` // rows held for this UIDVALIDITY, not expunged
}

// Mailbox is a synced mailbox: its cursor and health.
type Mailbox struct {
	ID         int64      `json:"id"`
	AccountID  int64      `json:"account_id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Cursor     Cursor     `json:"cursor"`
	State      string     `json:"state"`
	LastError  string     `json:"last_error,omitempty"`
	LastPassAt *time.Time `json:"last_pass_at"`
}

type mailboxRow struct {
	ID            int64       `db:"id"`
	AccountID     int64       `db:"account_id"`
	Name          string      `db:"name"`
	Role          string      `db:"role"`
	UIDValidity   int64       `db:"uidvalidity"`
	UIDNext       int64       `db:"uidnext"`
	HighestUID    int64       `db:"highest_uid"`
	HighestModSeq int64       `db:"highestmodseq"`
	MessageCount  int64       `db:"message_count"`
	State         string      `db:"state"`
	LastError     string      `db:"last_error"`
	LastPassAt    pq.NullTime `db:"last_pass_at"`
}

const mailboxColumns = `id, account_id, name, role, uidvalidity, uidnext, highest_uid, highestmodseq,
	message_count, state, last_error, last_pass_at`

func (r mailboxRow) mailbox() Mailbox {
	m := Mailbox{ID: r.ID, AccountID: r.AccountID, Name: r.Name, Role: r.Role, State: r.State,
		LastError: r.LastError, Cursor: Cursor{UIDValidity: uint32(r.UIDValidity), UIDNext: uint32(r.UIDNext),
			HighestUID: uint32(r.HighestUID), HighestModSeq: uint64(r.HighestModSeq), Messages: uint32(r.MessageCount)}}
	if r.LastPassAt.Valid {
		t := r.LastPassAt.Time.UTC()
		m.LastPassAt = &t
	}
	return m
}

// EnsureMailbox returns the mailbox row for (account, name), creating it.
// A role (inbox, sent, junk) belongs to one mailbox: if the server now names
// another Sent folder, the old one keeps its rows as an extra mailbox.
func (s *Store) EnsureMailbox(ctx context.Context, accountID int64, name, role string) (Mailbox, error) {
	var r mailboxRow
	err := s.inTx(ctx, "save mailbox "+name, func(tx *sqlx.Tx) error {
		now := s.Now()
		if role != "extra" {
			if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET role = 'extra', updated_at = $4
				WHERE account_id = $1 AND role = $2 AND name <> $3`, accountID, role, name, now); err != nil {
				return err
			}
		}
		return tx.GetContext(ctx, &r, `
			INSERT INTO mailboxes (account_id, name, role, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $4)
			ON CONFLICT (account_id, name) DO UPDATE SET role = excluded.role,
			       updated_at = CASE WHEN mailboxes.role = excluded.role THEN mailboxes.updated_at ELSE excluded.updated_at END
			RETURNING `+mailboxColumns, accountID, name, role, now)
	})
	return r.mailbox(), err
}

// Mailboxes lists an account's mailboxes (every account's when accountID is 0).
func (s *Store) Mailboxes(ctx context.Context, accountID int64) ([]Mailbox, error) {
	var rows []mailboxRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT `+mailboxColumns+` FROM mailboxes
		WHERE $1 = 0 OR account_id = $1 ORDER BY account_id, role <> 'inbox', role <> 'sent', role <> 'junk', name`, accountID); err != nil {
		return nil, mapError("list mailboxes", err)
	}
	out := make([]Mailbox, len(rows))
	for i, r := range rows {
		out[i] = r.mailbox()
	}
	return out, nil
}

// SyncBatch is one step of a sync pass: messages and the cursor that
// accounts for them, stored in one transaction.
type SyncBatch struct {
	MailboxID int64
	Reset     bool // a rescan after a UIDVALIDITY change: match what we hold by Message-ID
	// UIDValidity is the one the UIDs of Messages belong to; 0 means
	// Cursor.UIDValidity. They differ during a rescan, whose intermediate
	// cursors keep the old value so that a crash restarts the rescan.
	UIDValidity uint32
	Messages    []outreach.Message
	// Present, on a final batch, lists every UID the server holds now, as
	// inclusive ranges; rows of this mailbox outside it are marked expunged.
	Present [][2]uint32
	Cursor  Cursor
	Final   bool // the pass is complete: UIDNEXT, HIGHESTMODSEQ and the state are stored too
}

func (b SyncBatch) messageUIDValidity() uint32 {
	if b.UIDValidity != 0 {
		return b.UIDValidity
	}
	return b.Cursor.UIDValidity
}

// asyncCommit lets tx commit without waiting for its WAL to reach the disk
// (SET LOCAL synchronous_commit = off). A sync commits a transaction per
// batch, and waiting for the flush each time cost more than storing the
// batch. It is safe for sync batches because a batch's messages and its
// cursor commit together: a crash can lose only the last few batches,
// whole, with the cursor that accounts for them, so the next pass fetches
// them again, with no gap and no duplicate. And nothing committed later
// can outlive them: PostgreSQL writes WAL in order, so any later
// synchronous commit (a planner decision, a send) flushes the WAL up to
// and including every earlier asynchronous commit it could have read.
func asyncCommit(ctx context.Context, tx *sqlx.Tx) error {
	_, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`)
	return err
}

// SyncResult says what storing a batch did.
type SyncResult struct {
	Inserted int // rows created, or moved to the new UIDVALIDITY by a rescan
	Expunged int
}

// SaveSyncBatch stores a batch and its cursor in one transaction, so that a
// crash resumes exactly after the last batch stored: no duplicate, no gap.
// Storing a batch twice is a no-op (unique mailbox, UIDVALIDITY, UID). The
// commit does not wait for the disk (see asyncCommit).
func (s *Store) SaveSyncBatch(ctx context.Context, b SyncBatch) (SyncResult, error) {
	var res SyncResult
	err := s.inTx(ctx, "store synced messages", func(tx *sqlx.Tx) error {
		now := s.Now()
		if err := asyncCommit(ctx, tx); err != nil {
			return err
		}
		var held int64
		// The row lock makes two syncers of one mailbox take turns.
		if err := tx.GetContext(ctx, &held, `SELECT message_count FROM mailboxes WHERE id = $1 FOR UPDATE`, b.MailboxID); err != nil {
			return err
		}
		var err error
		if b.Reset {
			if res.Inserted, err = rekeyMessages(ctx, tx, b); err != nil {
				return err
			}
		}
		added, err := insertMessages(ctx, tx, b, now)
		if err != nil {
			return err
		}
		res.Inserted += added
		if b.Final && (b.Reset || b.Present != nil) {
			if res.Expunged, err = markExpunged(ctx, tx, b, now); err != nil {
				return err
			}
		}
		if b.Reset || res.Expunged > 0 {
			err = tx.GetContext(ctx, &held, `SELECT count(*) FROM messages
				WHERE mailbox_id = $1 AND uidvalidity = $2 AND expunged_at IS NULL`, b.MailboxID, int64(b.Cursor.UIDValidity))
		} else {
			held += int64(added)
		}
		if err != nil {
			return err
		}
		return saveCursor(ctx, tx, b, held, now)
	})
	return res, err
}

// MessageKey identifies a message across a UIDVALIDITY change: its
// Message-ID, or lacking one, its date, sender, subject and size.
func MessageKey(m outreach.Message) string {
	if m.MessageID != "" {
		return "id:" + m.MessageID
	}
	return fmt.Sprintf("h:%d|%s|%s|%d", m.Date.Unix(), strings.ToLower(m.From), m.Subject, m.Size)
}

// clean makes header text storable: PostgreSQL text is valid UTF-8 without NUL.
func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

func cleanAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = clean(s)
	}
	return out
}

// rekeyMessages moves rows we hold from an old UIDVALIDITY to the new UIDs
// of the same messages (matched by MessageKey), so a rescan duplicates nothing.
func rekeyMessages(ctx context.Context, tx *sqlx.Tx, b SyncBatch) (int, error) {
	keys := make([]string, len(b.Messages))
	uids := make([]int64, len(b.Messages))
	for i, m := range b.Messages {
		keys[i], uids[i] = clean(MessageKey(m)), int64(m.UID) // as stored (messageRow)
	}
	res, err := tx.ExecContext(ctx, `
		WITH incoming AS (SELECT * FROM unnest($3::text[], $4::bigint[]) AS u(key, uid)),
		matched AS (
			SELECT DISTINCT ON (i.key) m.id, i.uid FROM incoming i
			JOIN messages m ON m.mailbox_id = $1 AND m.message_key = i.key AND m.uidvalidity <> $2
			ORDER BY i.key, m.id)
		UPDATE messages m SET uidvalidity = $2, uid = matched.uid, expunged_at = NULL
		FROM matched WHERE m.id = matched.id`, b.MailboxID, int64(b.messageUIDValidity()), pq.Array(keys), pq.Array(uids))
	if err != nil {
		return 0, fmt.Errorf("match rescanned messages: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// markExpunged marks rows the server no longer has. Rows keep their history.
func markExpunged(ctx context.Context, tx *sqlx.Tx, b SyncBatch, now time.Time) (int, error) {
	starts, ends := make([]int64, len(b.Present)), make([]int64, len(b.Present))
	for i, r := range b.Present {
		starts[i], ends[i] = int64(r[0]), int64(r[1])
	}
	res, err := tx.ExecContext(ctx, `
		UPDATE messages m SET expunged_at = $5
		WHERE m.mailbox_id = $1 AND m.expunged_at IS NULL
		  AND (m.uidvalidity <> $2 OR ($3::bigint[] IS NOT NULL AND NOT EXISTS (
		        SELECT 1 FROM unnest($3::bigint[], $4::bigint[]) AS r(s, e) WHERE m.uid BETWEEN r.s AND r.e)))`,
		b.MailboxID, int64(b.Cursor.UIDValidity), nullArray(starts, b.Present != nil), nullArray(ends, b.Present != nil), now)
	if err != nil {
		return 0, fmt.Errorf("mark expunged messages: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func nullArray(a []int64, valid bool) any {
	if !valid {
		return nil
	}
	return pq.Array(a)
}

func saveCursor(ctx context.Context, tx *sqlx.Tx, b SyncBatch, held int64, now time.Time) error {
	c := b.Cursor
	q := `UPDATE mailboxes SET uidvalidity = $2, highest_uid = $3, message_count = $4, updated_at = $5`
	args := []any{b.MailboxID, int64(c.UIDValidity), int64(c.HighestUID), held, now}
	if b.Final {
		q += `, uidnext = $6, highestmodseq = $7, state = 'ok', last_error = '', last_pass_at = $5`
		args = append(args, int64(c.UIDNext), int64(c.HighestModSeq))
	}
	_, err := tx.ExecContext(ctx, q+` WHERE id = $1`, args...)
	if err != nil {
		return fmt.Errorf("save cursor: %w", err)
	}
	return nil
}

// MarkPassed records a complete pass over mailboxes whose cursor it left
// as it was (STATUS matched it: nothing to fetch, nothing expunged), and
// the account as ok, in one statement: what storing their final batches
// would have changed, without a transaction per mailbox. The cursor
// columns are not written, so a concurrent pass that moved them keeps them.
//
// Its commit does not wait for the disk (see asyncCommit): a crash that
// loses it loses only the time of a pass that changed nothing.
func (s *Store) MarkPassed(ctx context.Context, accountID int64, mailboxIDs []int64) error {
	return s.inTx(ctx, "record the pass", func(tx *sqlx.Tx) error {
		if err := asyncCommit(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			WITH account AS (
				UPDATE accounts SET state = 'ok', last_error = '', updated_at = $3 WHERE id = $1 AND state <> 'ok')
			UPDATE mailboxes SET state = 'ok', last_error = '', last_pass_at = $3, updated_at = $3
			WHERE account_id = $1 AND id = ANY($2::bigint[])`, accountID, pq.Array(mailboxIDs), s.Now())
		return err
	})
}

// MarkMailboxError records why a mailbox's last pass failed.
func (s *Store) MarkMailboxError(ctx context.Context, mailboxID int64, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE mailboxes SET state = 'degraded', last_error = $2,
		last_error_at = $3, updated_at = $3 WHERE id = $1`, mailboxID, nonEmpty(reason), s.Now())
	return mapError("mark mailbox degraded", err)
}

// AccountRow returns the id of the account row that already says exactly
// what EnsureAccount would write for a, or a KindNotFound error: a sync
// then skips EnsureAccount's write, and the wait for its commit, on every
// run in which the configuration did not change.
func (s *Store) AccountRow(ctx context.Context, a outreach.Account) (int64, error) {
	var id int64
	err := s.db.GetContext(ctx, &id, `SELECT id FROM accounts
		WHERE name = $1 AND email = $2 AND display_name = $3 AND timezone = $4`,
		a.Name, outreach.NormalizeAddress(a.Email), a.DisplayName, a.Timezone)
	return id, mapError("look up account "+a.Name, err)
}

// SetAccountHealth marks an account degraded with a reason, or ok when
// reason is empty.
func (s *Store) SetAccountHealth(ctx context.Context, accountID int64, reason string) error {
	now := s.Now()
	var err error
	if reason == "" {
		_, err = s.db.ExecContext(ctx, `UPDATE accounts SET state = 'ok', last_error = '', updated_at = $2
			WHERE id = $1 AND state <> 'ok'`, accountID, now)
	} else {
		_, err = s.db.ExecContext(ctx, `UPDATE accounts SET state = 'degraded', last_error = $2,
			last_error_at = $3, updated_at = $3 WHERE id = $1`, accountID, reason, now)
	}
	return mapError("set account health", err)
}

func nonEmpty(s string) string {
	if s == "" {
		return "unknown error"
	}
	return s
}

// KnownAddresses returns which of addrs belong to a contact (lower-cased).
// Each address is asked once: a batch names the same few people many times.
func (s *Store) KnownAddresses(ctx context.Context, addrs []string) (map[string]bool, error) {
	var found []string
	err := s.db.SelectContext(ctx, &found, `SELECT lower(address) FROM contact_addresses
		WHERE lower(address) = ANY($1::text[])`, pq.Array(appendNew(nil, lowerAll(addrs)...)))
	return toSet(found), mapError("look up contact addresses", err)
}

// KnownMessageIDs returns which of ids are messages that matter, stored
// with a skeleton, or drafts we wrote: mail referring to one of them may be
// part of a conversation we follow. Our own email matters as any other
// does (to or from a contact, or in a conversation that matters), so a
// reply to a mailing list, or to the applicant's email to a friend, is not
// made to matter by it, whichever of INBOX and Sent was synced first; when
// a contact is added later, the catch-up (WantedSkeletons) fetches both.
//
// Each id is looked up on its own in the partial index messages_message_id,
// whose condition the query repeats so that PostgreSQL can use it (the
// empty id names nothing). Not "message_id = ANY($1)": during a first sync the
// table grows by thousands of rows before it is ever analyzed, and without
// statistics PostgreSQL takes a long = ANY list to match most rows and
// reads the whole table for every batch. Each id is asked once: a batch's
// References repeat the same few roots.
func (s *Store) KnownMessageIDs(ctx context.Context, ids []string) (map[string]bool, error) {
	var found []string
	err := s.db.SelectContext(ctx, &found, knownMessageIDsSQL, pq.Array(appendNew(nil, cleanAll(ids)...)))
	return toSet(found), mapError("look up Message-IDs", err)
}

const knownMessageIDsSQL = `
	SELECT i.id FROM unnest($1::text[]) AS i(id)
	WHERE EXISTS (SELECT FROM messages m WHERE m.message_id = i.id AND m.message_id <> ''
	              AND m.raw IS NOT NULL)
	UNION
	SELECT i.id FROM unnest($1::text[]) AS i(id)
	WHERE EXISTS (SELECT FROM drafts d WHERE d.message_id = i.id)`

func lowerAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.ToLower(clean(s))
	}
	return out
}

func toSet(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}
