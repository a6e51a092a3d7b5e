// Package daemon runs Outreach's long-lived loops: mailbox sync (with IDLE
// push), and later planning and sending. Loops find their work in the
// database and keep their state there, so a restart loses nothing; they
// stop when their context ends and take the clock as a parameter.
package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/emersion/go-imap/v2"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/classify"
	"github.com/outreach/outreach/imapsync"
	"github.com/outreach/outreach/store"
)

// Account is one configured account with its IMAP settings resolved.
type Account struct {
	ID    int64 // the accounts row
	Name  string
	Email string // the applicant's address in this account, lower-cased
	IMAP  imapsync.Account
	Extra []string // more folders to sync besides INBOX and Sent
}

// Syncer runs sync passes: IMAP in, the database out.
type Syncer struct {
	Store     *store.Store
	Log       *slog.Logger
	BatchSize int // UIDs per fetch range; 0 means imapsync's default
	// Progress, when set, hears about every stored batch (for a terminal).
	Progress func(Progress)
}

// Progress reports a sync pass under way.
type Progress struct {
	Account, Mailbox string
	Stored           int    // messages stored so far in this pass, all mailboxes
	HighestUID       uint32 // of the current mailbox
	UIDNext          uint32 // the server's, when known: HighestUID/UIDNext gauges the way left
}

// PassSummary is what one pass over one account did.
type PassSummary struct {
	Account   string           `json:"account"`
	Mailboxes []MailboxSummary `json:"mailboxes"`
	Stored    int              `json:"stored"`
	// CaughtUp counts messages stored earlier without a skeleton whose
	// skeleton this pass fetched, because they have come to matter.
	CaughtUp int           `json:"caught_up"`
	Duration time.Duration `json:"duration_ns"`
}

// MailboxSummary is one mailbox's share of a pass.
type MailboxSummary struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Stored   int    `json:"stored"`
	Expunged int    `json:"expunged"`
	Reset    bool   `json:"reset"`
}

// SyncOnce connects, runs one incremental pass over every mailbox of the
// account (INBOX, Sent and the extra folders) and disconnects. The account
// is marked degraded with the reason when the pass fails, and ok when it
// succeeds.
func (s *Syncer) SyncOnce(ctx context.Context, acct Account) (PassSummary, error) {
	return s.SyncDialed(ctx, acct, StartDial(ctx, acct.IMAP))
}

// SyncDialed is SyncOnce on a connection that d is opening, which the
// caller may have started before it had the account's row (see StartDial).
func (s *Syncer) SyncDialed(ctx context.Context, acct Account, d *Dialing) (PassSummary, error) {
	conn, err := d.Wait()
	if err != nil {
		return PassSummary{Account: acct.Name}, s.fail(ctx, acct, 0, fmt.Errorf("connect to %s:%d: %w", acct.IMAP.Host, acct.IMAP.Port, err))
	}
	defer conn.Close()
	return s.Pass(ctx, conn, acct, nil)
}

// Pass runs one pass on an open connection. only, when non-empty, limits it
// to those roles ("inbox", "sent").
//
// One STATUS per mailbox, pipelined, tells which mailboxes changed; only
// those are selected and synced, and the others are recorded as passed in
// one statement at the end. Batches are stored by a batchWriter, each
// overlapping the fetch of the next.
func (s *Syncer) Pass(ctx context.Context, conn *imapsync.Conn, acct Account, only []imapsync.Role) (PassSummary, error) {
	start := time.Now()
	p := &pass{s: s, acct: acct, writer: newBatchWriter(), sum: PassSummary{Account: acct.Name}}
	err := p.run(ctx, conn, only) // returns with no batch in flight
	sum := p.summary()
	if err != nil {
		return sum, err
	}
	sum.Duration = time.Since(start)
	return sum, nil
}

// pass is one Pass over an account's mailboxes. Its summaries are updated
// by the batches' store functions, one at a time, and read once the writer
// is idle.
type pass struct {
	s         *Syncer
	acct      Account
	writer    *batchWriter
	sum       PassSummary
	boxes     []*MailboxSummary
	unchanged []int64 // rows of the mailboxes whose STATUS matched their cursor
	// ours are the Message-IDs of our own emails stored with a skeleton in
	// this pass, which mail synced before them may refer to (catchUp).
	ours []string
}

func (p *pass) run(ctx context.Context, conn *imapsync.Conn, only []imapsync.Role) error {
	held := p.s.heldMailboxes(ctx, p.acct.ID) // read while the server answers LIST and STATUS
	boxes, statuses, err := conn.Survey(ctx, p.acct.Extra, only)
	h := <-held
	if err != nil {
		return p.s.fail(ctx, p.acct, 0, fmt.Errorf("list mailboxes: %w", err))
	}
	if h.err != nil {
		return h.err
	}
	rows, err := p.s.mailboxRows(ctx, p.acct.ID, boxes, h.rows)
	if err != nil {
		return err
	}
	for i, mb := range boxes {
		ms := &MailboxSummary{Name: mb.Name, Role: string(mb.Role)}
		p.boxes = append(p.boxes, ms)
		if conn.Unchanged(toSyncCursor(rows[i].Cursor), statuses[i]) {
			p.unchanged = append(p.unchanged, rows[i].ID)
			continue
		}
		if err := p.syncMailbox(ctx, conn, mb, rows[i], ms); err != nil {
			return err
		}
	}
	if err := p.writer.wait(); err != nil {
		return p.s.fail(ctx, p.acct, p.writer.failed, err)
	}
	n, err := p.catchUp(ctx, conn)
	p.sum.CaughtUp = n
	if n > 0 {
		p.s.logger().Info("mail synced earlier now matters: its text fetched", "account", p.acct.Name, "messages", n)
	}
	if err != nil {
		return p.s.fail(ctx, p.acct, 0, err)
	}
	return p.s.Store.MarkPassed(ctx, p.acct.ID, p.unchanged)
}

// summary is the pass's summary with its mailboxes, in the order synced.
func (p *pass) summary() PassSummary {
	sum := p.sum
	for _, ms := range p.boxes {
		sum.Mailboxes = append(sum.Mailboxes, *ms)
	}
	return sum
}

// heldRows are the account's mailbox rows, or why they could not be read.
type heldRows struct {
	rows []store.Mailbox
	err  error
}

// heldMailboxes reads the account's mailbox rows, in one query, on a
// goroutine of its own.
func (s *Syncer) heldMailboxes(ctx context.Context, accountID int64) <-chan heldRows {
	out := make(chan heldRows, 1)
	go func() {
		rows, err := s.Store.Mailboxes(ctx, accountID)
		out <- heldRows{rows, err}
	}()
	return out
}

// mailboxRows returns the stored row of each mailbox, from held; a mailbox
// seen for the first time or in a new role goes through EnsureMailbox,
// which records it.
func (s *Syncer) mailboxRows(ctx context.Context, accountID int64, boxes []imapsync.Mailbox, held []store.Mailbox) ([]store.Mailbox, error) {
	var err error
	byName := make(map[string]store.Mailbox, len(held))
	for _, row := range held {
		byName[row.Name] = row
	}
	rows := make([]store.Mailbox, len(boxes))
	for i, mb := range boxes {
		row, ok := byName[mb.Name]
		if !ok || row.Role != string(mb.Role) {
			if row, err = s.Store.EnsureMailbox(ctx, accountID, mb.Name, string(mb.Role)); err != nil {
				return nil, err
			}
		}
		rows[i] = row
	}
	return rows, nil
}

// syncMailbox runs Sync on one mailbox, handing each batch to the writer.
// On failure it waits for the batch in flight, so that the mailbox is
// marked degraded after its last write.
func (p *pass) syncMailbox(ctx context.Context, conn *imapsync.Conn, mb imapsync.Mailbox, row store.Mailbox, ms *MailboxSummary) error {
	opts := imapsync.SyncOptions{BatchSize: p.s.BatchSize, Relevant: p.s.relevance(p.writer)}
	emit := func(b imapsync.Batch) error {
		// Classified here, while the writer stores the batch before.
		sb := toStoreBatch(row.ID, p.acct, b)
		for _, m := range sb.Messages {
			if m.Direction == outreach.Outbound && m.Raw != nil && m.MessageID != "" {
				p.ours = append(p.ours, m.MessageID)
			}
		}
		return p.writer.submit(row.ID, batchMessageIDs(sb.Messages), func() error { return p.store(ctx, mb, sb, b, ms) })
	}
	_, err := conn.Sync(ctx, mb.Name, toSyncCursor(row.Cursor), opts, emit)
	if err == nil {
		return nil
	}
	failed := row.ID
	if werr := p.writer.wait(); werr != nil {
		failed = p.writer.failed
		if !errors.Is(err, werr) {
			err = errors.Join(err, werr)
		}
	}
	return p.s.fail(ctx, p.acct, failed, fmt.Errorf("sync %s: %w", mb.Name, err))
}

// store stores one batch with its cursor (on the writer's goroutine), then
// updates the summaries and reports progress.
func (p *pass) store(ctx context.Context, mb imapsync.Mailbox, sb store.SyncBatch, b imapsync.Batch, ms *MailboxSummary) error {
	res, err := p.s.Store.SaveSyncBatch(ctx, sb)
	if err != nil {
		return err
	}
	ms.Stored += res.Inserted
	ms.Expunged += res.Expunged
	ms.Reset = ms.Reset || b.Reset
	p.sum.Stored += res.Inserted
	if p.s.Progress != nil {
		p.s.Progress(Progress{Account: p.acct.Name, Mailbox: mb.Name, Stored: p.sum.Stored,
			HighestUID: b.Cursor.HighestUID, UIDNext: b.Cursor.UIDNext})
	}
	return nil
}

// fail records why an account (and mailbox) is degraded and returns err.
// The cause is kept for errors.Is; its text is what `outreach status` shows.
func (s *Syncer) fail(ctx context.Context, acct Account, mailboxID int64, err error) error {
	if ctx.Err() != nil {
		return err // shutting down: nothing is wrong with the account
	}
	// A fresh context: the record must be written even as the pass fails.
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if mailboxID != 0 {
		if merr := s.Store.MarkMailboxError(wctx, mailboxID, err.Error()); merr != nil {
			err = errors.Join(err, merr)
		}
	}
	if aerr := s.Store.SetAccountHealth(wctx, acct.ID, err.Error()); aerr != nil {
		err = errors.Join(err, aerr)
	}
	s.logger().Warn("sync failed; account degraded", "account", acct.Name, "err", err)
	return err
}

func (s *Syncer) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func toSyncCursor(c store.Cursor) imapsync.Cursor {
	return imapsync.Cursor{UIDValidity: c.UIDValidity, UIDNext: c.UIDNext, HighestUID: c.HighestUID,
		HighestModSeq: c.HighestModSeq, Messages: c.Messages}
}

func toStoreBatch(mailboxID int64, acct Account, b imapsync.Batch) store.SyncBatch {
	sb := store.SyncBatch{MailboxID: mailboxID, Reset: b.Reset, UIDValidity: b.UIDValidity, Final: b.Final,
		Cursor: store.Cursor{UIDValidity: b.Cursor.UIDValidity, UIDNext: b.Cursor.UIDNext,
			HighestUID: b.Cursor.HighestUID, HighestModSeq: b.Cursor.HighestModSeq, Messages: b.Cursor.Messages},
		Messages: make([]outreach.Message, 0, len(b.Messages))}
	for _, m := range b.Messages {
		sb.Messages = append(sb.Messages, classified(m, b.UIDValidity, acct))
	}
	if b.Present != nil {
		sb.Present = uidRanges(b.Present)
	}
	return sb
}

func toMessage(m *imapsync.Message, uidValidity uint32, acct Account) outreach.Message {
	dir := outreach.Inbound
	if m.From == acct.Email {
		dir = outreach.Outbound
	}
	return outreach.Message{UIDValidity: uidValidity, UID: m.UID, MessageID: m.MessageID, InReplyTo: m.InReplyTo,
		References: m.References, From: m.From, FromName: m.FromName, To: m.To, Cc: m.Cc, Subject: m.Subject,
		Date: m.Date, InternalDate: m.InternalDate, Size: m.Size, Direction: dir, ParseError: m.ParseError,
		Flags: m.Flags, Header: m.Header, Raw: m.Raw}
}

func uidRanges(set *imap.UIDSet) [][2]uint32 {
	var out [][2]uint32
	for _, r := range *set {
		stop := r.Stop
		if stop == 0 { // "*": the highest UID; a present set is concrete, but be safe
			stop = ^imap.UID(0)
		}
		out = append(out, [2]uint32{uint32(r.Start), uint32(stop)})
	}
	return out
}

// classified converts a fetched message, classifying it when its skeleton
// was fetched: the result is stored with the message, in the same
// transaction. The applicant's own mail is a touch, never classified.
func classified(m *imapsync.Message, uidValidity uint32, acct Account) outreach.Message {
	msg := toMessage(m, uidValidity, acct)
	if m.Raw == nil || msg.Direction == outreach.Outbound {
		return msg
	}
	res := classify.Classify(m.Raw)
	if detail, err := classificationJSON(res); err == nil {
		msg.Kind, msg.Classification = res.Kind, detail
	}
	return msg
}

// classificationJSON is res as stored in messages.classification: jsonb
// refuses the escaped NUL (\u0000) that a header with a NUL byte would put
// in the evidence, so it becomes U+FFFD, as clean does for text columns.
func classificationJSON(res classify.Result) ([]byte, error) {
	b, err := json.Marshal(res)
	if err != nil || !bytes.Contains(b, []byte(`\u0000`)) {
		return b, err
	}
	// In JSON a backslash only ever starts an escape, so walking escape by
	// escape finds the NULs and leaves an escaped backslash followed by
	// "u0000" (the text \u0000) alone.
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] != '\\' || i+1 == len(b):
			out = append(out, b[i])
		case bytes.HasPrefix(b[i+1:], []byte("u0000")):
			out = append(out, `\ufffd`...)
			i += 5
		default:
			out = append(out, b[i], b[i+1])
			i++
		}
	}
	return out, nil
}
