package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
)

// A batch reaches PostgreSQL by COPY, in CopyData messages of 64 KB,
// rather than as one parameter (a JSON document of a megabyte or two),
// which the server reads and converts at once, for longer than it takes to
// store the rows. When the mailbox holds no row in the batch's UID range,
// the usual case, the rows are copied straight into messages; otherwise
// (a batch stored again, a rescan) into a temporary table of the session,
// and from there into messages with ON CONFLICT DO NOTHING, which COPY
// itself cannot do.

// messageColumns are the columns of messageRow, in its order.
var messageColumns = []string{"uid", "message_key", "message_id", "in_reply_to", "refs", "from_addr",
	"from_name", "to_addrs", "cc_addrs", "subject", "sent_date", "internal_date", "size", "flags",
	"direction", "raw_headers", "raw", "parse_error", "kind", "classification"}

// stageTable is the session's staging table, messageColumns typed as in
// messages; ON COMMIT DELETE ROWS empties it when the batch's transaction
// ends.
const stageTable = `CREATE TEMPORARY TABLE IF NOT EXISTS sync_stage (
	uid bigint, message_key text, message_id text, in_reply_to text[], refs text[], from_addr text,
	from_name text, to_addrs text[], cc_addrs text[], subject text, sent_date timestamptz,
	internal_date timestamptz, size bigint, flags text[], direction text, raw_headers bytea, raw bytea,
	parse_error text, kind text, classification jsonb) ON COMMIT DELETE ROWS`

// insertMessages adds the batch's messages; those already held are
// skipped. It returns how many rows it created. The caller holds the
// mailbox row's lock, so no other batch of the mailbox is stored meanwhile.
func insertMessages(ctx context.Context, tx *sqlx.Tx, b SyncBatch, now time.Time) (int, error) {
	if len(b.Messages) == 0 {
		return 0, nil
	}
	if !b.Reset {
		held, err := holdsAnyOf(ctx, tx, b)
		if err != nil {
			return 0, err
		}
		if !held {
			return copyMessages(ctx, tx, b, now)
		}
	}
	if _, err := tx.ExecContext(ctx, stageTable); err != nil {
		return 0, fmt.Errorf("staging table: %w", err)
	}
	if err := copyRows(ctx, tx, "sync_stage", messageColumns, b.Messages, func(row []any) []any { return row }); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO messages (mailbox_id, uidvalidity, created_at, `+strings.Join(messageColumns, ", ")+`)
		SELECT $1, $2, $3, `+strings.Join(messageColumns, ", ")+` FROM sync_stage ORDER BY uid
		ON CONFLICT (mailbox_id, uidvalidity, uid) DO NOTHING`, b.MailboxID, int64(b.messageUIDValidity()), now)
	if err != nil {
		return 0, fmt.Errorf("insert messages: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// holdsAnyOf reports whether the mailbox has a row, for the batch's
// UIDVALIDITY, between its lowest and highest UID (messages come in UID
// order).
func holdsAnyOf(ctx context.Context, tx *sqlx.Tx, b SyncBatch) (bool, error) {
	var held bool
	err := tx.GetContext(ctx, &held, `SELECT EXISTS (SELECT 1 FROM messages
		WHERE mailbox_id = $1 AND uidvalidity = $2 AND uid BETWEEN $3 AND $4)`, b.MailboxID,
		int64(b.messageUIDValidity()), int64(b.Messages[0].UID), int64(b.Messages[len(b.Messages)-1].UID))
	if err != nil {
		return false, fmt.Errorf("look for messages held: %w", err)
	}
	return held, nil
}

// copyMessages copies the batch straight into messages.
func copyMessages(ctx context.Context, tx *sqlx.Tx, b SyncBatch, now time.Time) (int, error) {
	cols := append([]string{"mailbox_id", "uidvalidity", "created_at"}, messageColumns...)
	created := now.Format(time.RFC3339Nano)
	uidValidity := int64(b.messageUIDValidity())
	prefix := func(row []any) []any {
		return append([]any{b.MailboxID, uidValidity, created}, row...)
	}
	if err := copyRows(ctx, tx, "messages", cols, b.Messages, prefix); err != nil {
		return 0, err
	}
	return len(b.Messages), nil
}

// copyRows copies msgs into table, each row the messageRow that wrap
// completes to columns.
func copyRows(ctx context.Context, tx *sqlx.Tx, table string, columns []string, msgs []outreach.Message, wrap func([]any) []any) error {
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn(table, columns...))
	if err != nil {
		return fmt.Errorf("copy messages: %w", err)
	}
	defer stmt.Close()
	for i := range msgs {
		if _, err := stmt.ExecContext(ctx, wrap(messageRow(&msgs[i]))...); err != nil {
			return fmt.Errorf("copy messages: %w", err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil { // ends the COPY, reports its errors
		return fmt.Errorf("copy messages: %w", err)
	}
	return nil
}

// messageRow is one message as messageColumns, made storable: text cleaned
// (see clean), a zero time NULL, kind and classification NULL unless the
// message was classified. Arrays, times and bytes are written in
// PostgreSQL's text forms here, as strings, which the COPY writer then
// only escapes: handing it Go values cost a conversion and an allocation
// or two per value, on tens of thousands of rows.
func messageRow(m *outreach.Message) []any {
	dir := m.Direction
	if dir == "" {
		dir = outreach.Inbound
	}
	var raw, kind, detail any
	if m.Raw != nil {
		raw = byteaText(m.Raw)
	}
	if m.Kind != "" && m.Classification != nil {
		kind, detail = string(m.Kind), string(m.Classification)
	}
	return []any{int64(m.UID), clean(MessageKey(*m)), clean(m.MessageID), textArray(m.InReplyTo),
		textArray(m.References), clean(m.From), clean(m.FromName), textArray(m.To), textArray(m.Cc),
		clean(m.Subject), timestamp(m.Date), timestamp(m.InternalDate), m.Size, textArray(m.Flags),
		string(dir), byteaText(m.Header), raw, clean(m.ParseError), kind, detail}
}

// byteaText is p in bytea's text input: ASCII without NUL as itself with
// each backslash doubled (the escape format), which headers nearly always
// are, else the hex format ("\x" and two digits a byte), which a byte
// that is not valid text (NUL, or not UTF-8) needs (PostgreSQL manual,
// 8.4 Binary Data Types).
func byteaText(p []byte) string {
	backslashes := 0
	for _, c := range p {
		switch {
		case c == 0 || c >= utf8.RuneSelf:
			b := make([]byte, 2, 2+hex.EncodedLen(len(p)))
			b[0], b[1] = '\\', 'x'
			return string(hex.AppendEncode(b, p))
		case c == '\\':
			backslashes++
		}
	}
	if backslashes == 0 {
		return string(p)
	}
	return strings.ReplaceAll(string(p), `\`, `\\`)
}

// timestamp is t in RFC 3339, or NULL for the zero time and for years
// PostgreSQL would read differently (outside 1-9999), rather than a batch
// that cannot be stored.
func timestamp(t time.Time) any {
	if t.IsZero() || t.Year() < 1 || t.Year() > 9999 {
		return nil
	}
	return t.Format(time.RFC3339Nano)
}

// textArray is list, cleaned, as a text[] literal: every element quoted,
// with " and \ escaped (PostgreSQL manual, 8.15.6 Array Input and Output
// Syntax).
func textArray(list []string) string {
	n := 2
	for _, s := range list {
		n += len(s) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		for _, c := range []byte(clean(s)) {
			if c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, c)
		}
		b = append(b, '"')
	}
	return string(append(b, '}'))
}
