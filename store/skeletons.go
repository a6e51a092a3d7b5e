package store

import (
	"context"
	"database/sql"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
)

// Skeletons caught up (migration 00008): a message stored without its
// skeleton, because it did not matter when it was synced, gets it when it
// comes to matter: a contact is added with one of its addresses, or our own
// email it refers to is stored after it.

// SkeletonWant is a stored message whose skeleton is to be fetched.
type SkeletonWant struct {
	ID          int64  `db:"id"`
	MailboxID   int64  `db:"mailbox_id"`
	Mailbox     string `db:"name"`
	UIDValidity uint32 `db:"uidvalidity"`
	UID         uint32 `db:"uid"`
}

// Skeleton is a fetched skeleton for a stored message: its full header, the
// skeleton itself, what went wrong assembling it, and its classification
// (Kind and Classification empty for our own mail).
type Skeleton struct {
	ID             int64
	Header, Raw    []byte
	ParseError     string
	Kind           outreach.MessageKind
	Classification []byte
}

// SkeletonsDue returns the account's count of contact changes when a
// catch-up by contact address is due (contacts changed since the last
// complete one), else 0. Hand it to SkeletonsCaughtUp afterwards.
func (s *Store) SkeletonsDue(ctx context.Context, accountID int64) (int64, error) {
	var gen int64
	err := s.db.GetContext(ctx, &gen, `SELECT CASE WHEN contacts_gen <> skeletons_gen THEN contacts_gen ELSE 0 END
		FROM accounts WHERE id = $1`, accountID)
	return gen, mapError("read whether skeletons are due", err)
}

// SkeletonsCaughtUp records that the catch-up for contact changes up to gen
// is complete.
func (s *Store) SkeletonsCaughtUp(ctx context.Context, accountID, gen int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE accounts SET skeletons_gen = $2
		WHERE id = $1 AND skeletons_gen < $2`, accountID, gen)
	return mapError("record skeletons caught up", err)
}

// WantedSkeletons lists up to limit messages of the account, stored without
// a skeleton and still on the server (current UIDVALIDITY, not expunged,
// not known to be missing), that now matter, in mailbox and UID order:
// with byContacts, those from, to or copied to a contact's address, or
// referring to one of our own emails held with its skeleton; and those
// referring to one of refersTo (Message-IDs without angle brackets).
func (s *Store) WantedSkeletons(ctx context.Context, accountID int64, byContacts bool, refersTo []string, limit int) ([]SkeletonWant, error) {
	var addrs []string
	refs := cleanAll(refersTo)
	if byContacts {
		var ours []string
		err := s.db.SelectContext(ctx, &addrs, `SELECT lower(address) FROM contact_addresses`)
		if err == nil {
			err = s.db.SelectContext(ctx, &ours, `SELECT m.message_id FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
				WHERE b.account_id = $1 AND m.direction = 'out' AND m.raw IS NOT NULL AND m.message_id <> ''`, accountID)
		}
		if err != nil {
			return nil, mapError("list messages whose skeleton is wanted", err)
		}
		refs = append(refs, ours...)
	}
	if len(addrs) == 0 && len(refs) == 0 {
		return nil, nil
	}
	// Each message's addresses and references side by side with the lists
	// given as constant arrays, which PostgreSQL looks up in a hash table:
	// one pass over the messages without a skeleton, however long the lists.
	var out []SkeletonWant
	err := s.db.SelectContext(ctx, &out, `
		SELECT m.id, m.mailbox_id, b.name, m.uidvalidity, m.uid
		FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id, unnest(m.from_addr || m.to_addrs || m.cc_addrs) a(x)
		WHERE b.account_id = $1 AND m.raw IS NULL AND NOT m.skeleton_missing AND m.expunged_at IS NULL
		  AND m.uidvalidity = b.uidvalidity AND lower(a.x) = ANY ($2::text[])
		UNION
		SELECT m.id, m.mailbox_id, b.name, m.uidvalidity, m.uid
		FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id, unnest(m.in_reply_to || m.refs) r(x)
		WHERE b.account_id = $1 AND m.raw IS NULL AND NOT m.skeleton_missing AND m.expunged_at IS NULL
		  AND m.uidvalidity = b.uidvalidity AND r.x = ANY ($3::text[])
		ORDER BY mailbox_id, uid LIMIT $4`, accountID, pq.Array(addrs), pq.Array(refs), limit)
	return out, mapError("list messages whose skeleton is wanted", err)
}

// SaveSkeletons stores fetched skeletons in one transaction, each on a row
// still without one, which then waits for threading like a message synced
// with its skeleton; missing are rows the server had none for, not asked
// for again.
func (s *Store) SaveSkeletons(ctx context.Context, got []Skeleton, missing []int64) error {
	ids := make([]int64, len(got))
	headers, raws := make(pq.ByteaArray, len(got)), make(pq.ByteaArray, len(got))
	kinds, details, problems := make([]sql.NullString, len(got)), make([]sql.NullString, len(got)), make([]string, len(got))
	for i, k := range got {
		ids[i], headers[i], raws[i], problems[i] = k.ID, k.Header, k.Raw, clean(k.ParseError)
		if k.Kind != "" && k.Classification != nil {
			kinds[i] = sql.NullString{String: string(k.Kind), Valid: true}
			details[i] = sql.NullString{String: string(k.Classification), Valid: true}
		}
	}
	return s.inTx(ctx, "store caught-up skeletons", func(tx *sqlx.Tx) error {
		if len(got) > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE messages m
				SET raw_headers = k.header, raw = k.raw, kind = k.kind, classification = k.detail::jsonb,
				    parse_error = CASE WHEN k.problem = '' THEN m.parse_error WHEN m.parse_error = '' THEN k.problem
				                       ELSE m.parse_error || '; ' || k.problem END,
				    attached_at = NULL
				FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::text[], $5::text[], $6::text[])
				     AS k(id, header, raw, kind, detail, problem)
				WHERE m.id = k.id AND m.raw IS NULL`, pq.Array(ids), headers, raws, pq.Array(kinds), pq.Array(details),
				pq.Array(problems)); err != nil {
				return err
			}
		}
		if len(missing) > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET skeleton_missing = true WHERE id = ANY($1)`,
				pq.Array(missing)); err != nil {
				return err
			}
		}
		return nil
	})
}
