package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/daemon"
	"github.com/outreach/outreach/store"
)

func TestExplainShowsEvidenceAndDecisions(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	ctx := context.Background()
	st, err := store.Open(ctx, env["OUTREACH_DATABASE_URL"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, _ := st.EnsureAccount(ctx, outreach.Account{Name: "main", Email: "me@example.org", Timezone: "UTC"})
	inbox, _ := st.EnsureMailbox(ctx, acct, "INBOX", "inbox")
	sent, _ := st.EnsureMailbox(ctx, acct, "Sent", "sent")
	if r := cli(t, env, "", "contacts", "add", "--email", "chen@med.example.edu"); r.code != 0 {
		t.Fatal(r)
	}
	day := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	save := func(mb int64, m outreach.Message) {
		m.Raw = []byte("x")
		if _, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: mb, Messages: []outreach.Message{m},
			Cursor: store.Cursor{UIDValidity: 1, HighestUID: m.UID}}); err != nil {
			t.Fatal(err)
		}
	}
	save(sent.ID, outreach.Message{UID: 1, MessageID: "first@example.org", From: "me@example.org", To: []string{"chen@med.example.edu"},
		Subject: "Research opportunity", Date: day, Direction: outreach.Outbound})
	save(inbox.ID, outreach.Message{UID: 1, MessageID: "ooo@med.example.edu", From: "chen@med.example.edu", To: []string{"me@example.org"},
		Subject: "Automatic reply: Research opportunity", Date: day.Add(time.Hour), Direction: outreach.Inbound,
		InReplyTo: []string{"first@example.org"}, Kind: outreach.MessageAutoReply,
		Classification: []byte(`{"kind":"auto_reply","reason":"vacation","return_date":"2026-11-16","confidence":"certain","evidence":["Auto-Submitted: auto-replied (RFC 3834)"]}`)})
	if _, err := daemon.AttachPending(ctx, st); err != nil {
		t.Fatal(err)
	}

	r := cli(t, env, "", "explain", "<ooo@med.example.edu>")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{"auto_reply", "vacation, certain, back on 2026-11-16", "Auto-Submitted: auto-replied (RFC 3834)",
		"threaded by: refers_to", "thread_started", "message_attached", "refers to <first@example.org>"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("explain output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = cli(t, env, "", "explain", "--json", "1")
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		for k := range obj {
			kinds = append(kinds, k)
		}
	}
	if strings.Join(kinds, ",") != "thread,message,message,event,event,event" {
		t.Errorf("--json objects %v, want the thread, its 2 messages, then 3 events", kinds)
	}
	if r := cli(t, env, "", "explain", "<nobody@example.org>"); r.code != exitNotFound {
		t.Errorf("explaining an unknown Message-ID: %+v", r)
	}
}
