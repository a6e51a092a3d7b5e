package imapsync

import (
	"context"
	"strings"
	"testing"
)

// TestStatusesTellUnchangedMailboxes: Survey asks STATUS INBOX before the
// LIST and the others after it, no SELECT; a mailbox is unchanged exactly
// when a Sync of it would fetch nothing; the selected mailbox gets no
// STATUS.
func TestStatusesTellUnchangedMailboxes(t *testing.T) {
	s := newMemServer(t, serverConfig{})
	s.appendMsgs(t, "INBOX", genMessages(1, 30)...)
	s.appendMsgs(t, "Sent", genMessages(100, 4)...)
	p := newProxy(t, s.addr)
	a := s.account("none")
	a.Port = p.port
	ctx := context.Background()
	c, err := Dial(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	inbox, sent := syncMailbox(t, c, "INBOX", Cursor{}), syncMailbox(t, c, "Sent", Cursor{})
	// Sent is selected now; a fresh connection selects nothing.
	fresh, err := Dial(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()

	p.reset()
	boxes, st, err := fresh.Survey(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cmds := p.commands()
	if len(boxes) != 2 || boxes[0].Name != "INBOX" || boxes[1].Name != "Sent" {
		t.Fatalf("surveyed %+v, want INBOX and Sent", boxes)
	}
	if strings.Count(cmds, "STATUS") != 2 || strings.Contains(cmds, "SELECT") ||
		!(strings.Index(cmds, "STATUS INBOX") < strings.Index(cmds, "LIST") && strings.Index(cmds, "LIST") < strings.LastIndex(cmds, "STATUS")) {
		t.Fatalf("commands sent:\n%s\nwant STATUS INBOX, LIST, STATUS Sent and no SELECT", cmds)
	}
	if !fresh.Unchanged(inbox, st[0]) || !fresh.Unchanged(sent, st[1]) {
		t.Fatalf("statuses %+v do not match the cursors %+v %+v", st, inbox, sent)
	}
	p.reset()
	if boxes, st, err := fresh.Survey(ctx, nil, []Role{RoleSent}); err != nil || len(boxes) != 1 ||
		!fresh.Unchanged(sent, st[0]) || strings.Contains(p.commands(), "STATUS INBOX") {
		t.Fatalf("Sent only: %+v %+v %v\n%s", boxes, st, err, p.commands())
	}

	s.appendMsgs(t, "INBOX", genMessages(31, 1)...)
	st, err = fresh.Statuses(ctx, []string{"INBOX", "Sent"})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Unchanged(inbox, st[0]) || !fresh.Unchanged(sent, st[1]) {
		t.Fatalf("after a delivery to INBOX: statuses %+v, cursors %+v %+v", st, inbox, sent)
	}
	if fresh.Unchanged(Cursor{}, st[1]) {
		t.Fatal("a mailbox never synced counts as unchanged")
	}

	p.reset()
	st, err = c.Statuses(ctx, []string{"INBOX", "Sent"})
	if err != nil {
		t.Fatal(err)
	}
	if cmds := p.commands(); strings.Contains(cmds, "Sent") || st[1].UIDValidity != 0 || c.Unchanged(sent, st[1]) {
		t.Fatalf("the selected mailbox got a STATUS or counts as unchanged: %+v\n%s", st[1], cmds)
	}
}

// syncMailbox syncs one mailbox and returns its final cursor.
func syncMailbox(t *testing.T, c *Conn, name string, cur Cursor) Cursor {
	t.Helper()
	var col collector
	out, err := c.Sync(context.Background(), name, cur, SyncOptions{}, col.emit)
	if err != nil {
		t.Fatalf("Sync %s: %v", name, err)
	}
	return out
}
