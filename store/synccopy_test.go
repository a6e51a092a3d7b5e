package store_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

// What the COPY path writes reads back as the message, made storable: text
// cleaned of invalid UTF-8 and NUL, bytes kept exactly, arrays and times
// whole, NULL where nothing was known.
func TestSyncBatchStoresEveryFieldExactly(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	mb := newMailbox(t, st)
	date := time.Date(2026, 11, 2, 9, 0, 0, 123456000, time.FixedZone("", -3*3600))
	farFuture := time.Date(12026, 1, 1, 0, 0, 0, 0, time.UTC)
	binary := []byte("Subject: \xff\xfe caf\xc3\xa9\r\nX: tab\there \\ back\x00nul\r\n\r\n")
	tests := []struct {
		name string
		in   outreach.Message
		want storedMessage
	}{
		{"escapes in every text column", outreach.Message{UID: 1, MessageID: `q"uote\back@x`,
			InReplyTo: []string{`a"b`, `c\d`, "e,f", "{g}", "h i"}, References: []string{"r@x"},
			From: "chen@med.example.edu", FromName: "Dr. \"Chen\"\tLab\nNext", To: []string{"me@example.org"},
			Cc: []string{"x@y", "z@y"}, Subject: "Re: tab\there \\ newline\nend", Date: date, InternalDate: date,
			Size: 4321, Flags: []string{`\Seen`, `\Answered`}, Direction: outreach.Outbound, Header: binary,
			Raw: []byte{0, 1, 2, '\\', '\n', 255}, ParseError: "from: bad\r\n", Kind: outreach.MessageHuman,
			Classification: []byte(`{"kind":"human","evidence":["a \"b\" \\ c"]}`)},
			storedMessage{MessageKey: `id:q"uote\back@x`, MessageID: `q"uote\back@x`,
				InReplyTo: pq.StringArray{`a"b`, `c\d`, "e,f", "{g}", "h i"}, Refs: pq.StringArray{"r@x"},
				From: "chen@med.example.edu", FromName: "Dr. \"Chen\"\tLab\nNext", To: pq.StringArray{"me@example.org"},
				Cc: pq.StringArray{"x@y", "z@y"}, Subject: "Re: tab\there \\ newline\nend", SentDate: &date,
				InternalDate: &date, Size: 4321, Flags: pq.StringArray{`\Seen`, `\Answered`}, Direction: "out",
				Header: binary, Raw: []byte{0, 1, 2, '\\', '\n', 255}, ParseError: "from: bad\r\n", Kind: ptr("human"),
				Classification: ptr(`{"kind": "human", "evidence": ["a \"b\" \\ c"]}`)}},
		{"ASCII header and skeleton travel as text", outreach.Message{UID: 3, MessageID: "a@b",
			Header: []byte("Subject: a\\b\tc\r\n\r\n"), Raw: []byte("From: x\r\n\r\n\\N \\. \x01\x7f\n")},
			storedMessage{MessageKey: "id:a@b", MessageID: "a@b", InReplyTo: pq.StringArray{}, Refs: pq.StringArray{},
				To: pq.StringArray{}, Cc: pq.StringArray{}, Flags: pq.StringArray{}, Direction: "in",
				Header: []byte("Subject: a\\b\tc\r\n\r\n"), Raw: []byte("From: x\r\n\r\n\\N \\. \x01\x7f\n")}},
		{"bad UTF-8 and NUL cleaned, nothing known", outreach.Message{UID: 2, Subject: "caf\xe9 \x00end",
			FromName: "\xff", InReplyTo: []string{"bad\xffid"}, Date: farFuture},
			storedMessage{MessageKey: fmt.Sprintf("h:%d||caf\uFFFD end|0", farFuture.Unix()), InReplyTo: pq.StringArray{"bad\uFFFDid"},
				Refs: pq.StringArray{}, FromName: "\uFFFD", To: pq.StringArray{}, Cc: pq.StringArray{},
				Subject: "caf\uFFFD end", Flags: pq.StringArray{}, Direction: "in", Header: []byte{}}},
	}
	for _, tt := range tests {
		// Straight into messages, then through the staging table: the
		// second batch holds a UID stored already.
		again := tt.in
		again.UID += 100
		for _, batch := range [][]outreach.Message{{tt.in}, {tt.in, again}} {
			res, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: mb.ID, Messages: batch,
				Cursor: store.Cursor{UIDValidity: 7, HighestUID: batch[len(batch)-1].UID}})
			if err != nil || res.Inserted != 1 {
				t.Fatalf("%s: stored %d (%v), want 1", tt.name, res.Inserted, err)
			}
		}
		checkStored(t, st, mb.ID, tt.in.UID, tt.name, tt.want)
		checkStored(t, st, mb.ID, again.UID, tt.name+" (staged)", tt.want)
	}
}

// checkStored compares the row of uid with want.
func checkStored(t *testing.T, st *store.Store, mailbox int64, uid uint32, name string, want storedMessage) {
	t.Helper()
	var got storedMessage
	if err := st.DB().Get(&got, `SELECT message_key, message_id, in_reply_to, refs, from_addr, from_name, to_addrs,
		cc_addrs, subject, sent_date, internal_date, size, flags, direction, raw_headers, raw, parse_error, kind,
		classification::text AS classification FROM messages WHERE mailbox_id = $1 AND uid = $2`, mailbox, uid); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !sameTime(got.SentDate, want.SentDate) || !sameTime(got.InternalDate, want.InternalDate) {
		t.Fatalf("%s: dates %v %v, want %v %v", name, got.SentDate, got.InternalDate, want.SentDate, want.InternalDate)
	}
	got.SentDate, got.InternalDate, want.SentDate, want.InternalDate = nil, nil, nil, nil
	if !bytes.Equal(got.Header, want.Header) || !bytes.Equal(got.Raw, want.Raw) || (got.Raw == nil) != (want.Raw == nil) {
		t.Fatalf("%s: header %q raw %q, want %q %q", name, got.Header, got.Raw, want.Header, want.Raw)
	}
	got.Header, got.Raw, want.Header, want.Raw = nil, nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: stored\n%+v\nwant\n%+v", name, got, want)
	}
}

// storedMessage is a messages row as the sync wrote it.
type storedMessage struct {
	MessageKey     string         `db:"message_key"`
	MessageID      string         `db:"message_id"`
	InReplyTo      pq.StringArray `db:"in_reply_to"`
	Refs           pq.StringArray `db:"refs"`
	From           string         `db:"from_addr"`
	FromName       string         `db:"from_name"`
	To             pq.StringArray `db:"to_addrs"`
	Cc             pq.StringArray `db:"cc_addrs"`
	Subject        string         `db:"subject"`
	SentDate       *time.Time     `db:"sent_date"`
	InternalDate   *time.Time     `db:"internal_date"`
	Size           int64          `db:"size"`
	Flags          pq.StringArray `db:"flags"`
	Direction      string         `db:"direction"`
	Header         []byte         `db:"raw_headers"`
	Raw            []byte         `db:"raw"`
	ParseError     string         `db:"parse_error"`
	Kind           *string        `db:"kind"`
	Classification *string        `db:"classification"`
}

func ptr(s string) *string { return &s }

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
