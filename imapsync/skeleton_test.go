package imapsync

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corpusDir holds real bounces (read-only).
const corpusDir = "../../shared/corpus/bounce"

// allRelevant asks for phase 2 on every message.
func allRelevant(_ context.Context, msgs []*Message) ([]bool, error) {
	out := make([]bool, len(msgs))
	for i := range out {
		out[i] = true
	}
	return out, nil
}

// syncRelevant appends msgs to a fresh server and syncs INBOX with phase 2
// on every message, through a proxy that counts bytes.
func syncRelevant(t *testing.T, msgs ...[]byte) ([]*Message, *proxy) {
	t.Helper()
	s := newMemServer(t, serverConfig{})
	s.appendMsgs(t, "INBOX", msgs...)
	c, p := s.dialProxied(t)
	return syncAllRelevant(t, c, len(msgs)), p
}

// syncAllRelevant syncs INBOX from scratch with phase 2 on every message
// and checks that it delivers n messages.
func syncAllRelevant(t *testing.T, c *Conn, n int) []*Message {
	t.Helper()
	var col collector
	if _, err := c.Sync(context.Background(), "INBOX", Cursor{}, SyncOptions{Relevant: allRelevant}, col.emit); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	var out []*Message
	for _, b := range col.batches {
		out = append(out, b.Messages...)
	}
	if len(out) != n {
		t.Fatalf("Sync delivered %d messages, want %d", len(out), n)
	}
	return out
}

// TestSkeletonSkipsAttachment: phase 2 of a message with a text part and a
// 25 MB attachment downloads the text and the MIME headers, never the
// attachment.
func TestSkeletonSkipsAttachment(t *testing.T) {
	line := strings.Repeat("A", 76) + "\r\n"
	attachment := strings.Repeat(line, 25<<20/len(line))
	msg := "From: Prof <prof@uni.example.edu>\r\nTo: me@example.org\r\nSubject: slides\r\n" +
		"Message-ID: <big@uni.example.edu>\r\nX-Extra: full header only\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"outer-b\"\r\n\r\npreamble\r\n" +
		"--outer-b\r\nContent-Type: multipart/alternative; boundary=inner-b\r\n\r\n" +
		"--inner-b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHappy to talk next week.\r\n" +
		"--inner-b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Happy to talk next week.</p>\r\n" +
		"--inner-b--\r\n" +
		"--outer-b\r\nContent-Type: application/pdf; name=slides.pdf\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=slides.pdf\r\n\r\n" + attachment +
		"--outer-b--\r\n"
	msgs, p := syncRelevant(t, []byte(msg))
	m := msgs[0]
	raw := string(m.Raw)
	if m.ParseError != "" {
		t.Errorf("ParseError %q", m.ParseError)
	}
	for _, want := range []string{"X-Extra: full header only", "--outer-b\r\n", "boundary=inner-b",
		"Happy to talk next week.", "Content-Disposition: attachment; filename=slides.pdf", "--outer-b--"} {
		if !strings.Contains(raw, want) {
			t.Errorf("skeleton lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(raw, line) || strings.Contains(raw, "<p>Happy") {
		t.Errorf("skeleton holds attachment or html bytes (%d bytes)", len(raw))
	}
	if !strings.Contains(string(m.Header), "X-Extra") {
		t.Errorf("phase 2 did not replace Header by the full header")
	}
	wantTypes := "multipart/alternative,text/plain,text/html,application/pdf"
	if got := partTypes(t, m.Raw); got != wantTypes {
		t.Errorf("skeleton parts %s, want %s", got, wantTypes)
	}
	if n := p.bytesRead(); n > 256<<10 {
		t.Errorf("read %d bytes from the socket for a 25 MB message", n)
	}
}

// partTypes parses raw with net/mail and mime/multipart and lists the
// content types of its parts, depth first.
func partTypes(t *testing.T, raw []byte) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("skeleton does not parse: %v", err)
	}
	var types []string
	walkParts(t, msg.Header.Get("Content-Type"), msg.Body, &types)
	return strings.Join(types, ",")
}

// walkParts appends the content types below one multipart entity.
func walkParts(t *testing.T, contentType string, body io.Reader, types *[]string) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("skeleton multipart: %v", err)
		}
		ct := part.Header.Get("Content-Type")
		if ct == "" {
			ct = "text/plain" // RFC 2045 section 5.2 default
		}
		sub, _, _ := mime.ParseMediaType(ct)
		*types = append(*types, sub)
		walkParts(t, ct, part, types)
	}
}

// TestSkeletonDSN: a delivery status notification keeps its report part
// whole and the returned message's header, not its body.
func TestSkeletonDSN(t *testing.T) {
	msgs, _ := syncRelevant(t, corpusFile(t, "sisimai-rfc3464-01.eml"))
	m := msgs[0]
	raw := string(m.Raw)
	for _, want := range []string{"Your message to <nekochan> was automatically rejected",
		"Content-Type: message/delivery-status", "Final-Recipient: RFC822; userunknown@bouncehammer.jp",
		"Diagnostic-Code: SMTP; 550 5.1.1", "Content-Type: message/rfc822",
		"Message-Id: <E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org>",
		"--r9G5FZh9018575.1381900535/smtpgw.example.jp--"} {
		if !strings.Contains(raw, want) {
			t.Errorf("skeleton lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(raw, "5aSq55yJ54yr") {
		t.Errorf("skeleton holds the returned message's body")
	}
	if got := partTypes(t, m.Raw); got != "text/plain,message/delivery-status,message/rfc822" {
		t.Errorf("skeleton parts %s", got)
	}
}

// TestSkeletonCorpus: every real bounce in the corpus yields a skeleton
// that parses as MIME, and report parts survive.
func TestSkeletonCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", corpusDir, err)
	}
	var inputs [][]byte
	for _, f := range files {
		inputs = append(inputs, corpusFile(t, filepath.Base(f)))
	}
	msgs, _ := syncRelevant(t, inputs...)
	for i, m := range msgs {
		name := filepath.Base(files[i])
		if m.Raw == nil || strings.Contains(m.ParseError, "skeleton") {
			t.Errorf("%s: no usable skeleton: %q", name, m.ParseError)
			continue
		}
		if bytes.Contains(bytes.ToLower(inputs[i]), []byte("final-recipient")) &&
			!bytes.Contains(bytes.ToLower(m.Raw), []byte("final-recipient")) {
			t.Errorf("%s: delivery-status content missing from skeleton", name)
		}
	}
}

// corpusFile reads a corpus bounce as an IMAP server stores it (asStored).
func corpusFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return asStored(b)
}

// asStored is a message file as an IMAP server stores it: without an mbox
// "From " envelope line and with CRLF line ends.
func asStored(b []byte) []byte {
	if bytes.HasPrefix(b, []byte("From ")) {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// TestMalformed: broken messages are returned through Sync with
// ParseError set, never dropped. (go-imap's in-memory server serves an empty
// header when it cannot parse one; the lenient parsing itself is covered by
// TestParseHeader, and a multipart without boundary by TestMakePlan, since
// that server drops the connection on its BODYSTRUCTURE.)
func TestMalformed(t *testing.T) {
	tests := []struct {
		name      string
		msg       string
		wantError bool
		wantInRaw string
	}{
		{name: "header line without colon",
			msg: "From: a@b.example\r\nThis line is broken\r\nSubject: still here\r\n\r\nbody\r\n", wantError: true},
		{name: "broken header bytes",
			msg: "From: \xff\xfe <x@y.example>\r\n\x00\x01garbage\r\nSubject: ok\r\n\r\nbody\r\n", wantError: true},
		{name: "bad date", msg: "From: a@b.example\r\nDate: the day after tomorrow\r\nSubject: d\r\n\r\nx\r\n",
			wantError: true, wantInRaw: "Subject: d"},
		{name: "unterminated multipart",
			msg: "From: a@b.example\r\nSubject: cut\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
				"--b\r\nContent-Type: text/plain\r\n\r\nhello before the cut\r\n",
			wantInRaw: "--b--"},
	}
	var raws [][]byte
	for _, tt := range tests {
		raws = append(raws, []byte(tt.msg))
	}
	msgs, _ := syncRelevant(t, raws...)
	for i, tt := range tests {
		m := msgs[i]
		t.Run(tt.name, func(t *testing.T) {
			if (m.ParseError != "") != tt.wantError {
				t.Errorf("ParseError %q, want an error: %v", m.ParseError, tt.wantError)
			}
			if m.Raw == nil || !strings.Contains(string(m.Raw), tt.wantInRaw) {
				t.Errorf("skeleton lacks %q:\n%s", tt.wantInRaw, m.Raw)
			}
			if m.Raw != nil && !tt.wantError && checkMIME(m.Raw) != nil {
				t.Errorf("skeleton does not parse: %v", checkMIME(m.Raw))
			}
		})
	}
}

// TestSkeletonsAskNoSearch: phase 2 asks for a sparse set of UIDs, whose
// sequence numbers are never contiguous; that is no sign of a lost
// response, so no UID SEARCH round trip is spent on it (one per phase-2
// FETCH before), and every relevant message still gets its skeleton.
func TestSkeletonsAskNoSearch(t *testing.T) {
	s := newMemServer(t, serverConfig{})
	var msgs [][]byte
	for i := 1; i <= 9; i++ {
		msgs = append(msgs, []byte(fmt.Sprintf("From: prof%d@uni.example.edu\r\nTo: me@example.org\r\n"+
			"Subject: note %d\r\nMessage-ID: <n%d@uni.example.edu>\r\n\r\nNote %d.\r\n", i, i, i, i)))
	}
	s.appendMsgs(t, "INBOX", msgs...)
	c, p := s.dialProxied(t)
	everyThird := func(_ context.Context, ms []*Message) ([]bool, error) {
		out := make([]bool, len(ms))
		for i, m := range ms {
			out[i] = m.UID%3 == 0
		}
		return out, nil
	}
	var col collector
	if _, err := c.Sync(context.Background(), "INBOX", Cursor{}, SyncOptions{Relevant: everyThird}, col.emit); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	for _, b := range col.batches {
		for _, m := range b.Messages {
			if has := strings.Contains(string(m.Raw), fmt.Sprintf("Note %d.", m.UID)); has != (m.UID%3 == 0) {
				t.Errorf("UID %d: skeleton with its text = %v, want %v (raw %q)", m.UID, has, m.UID%3 == 0, m.Raw)
			}
		}
	}
	if cmds := p.commands(); strings.Contains(cmds, "SEARCH") {
		t.Errorf("the pass searched:\n%s", cmds)
	}
}

// TestSkeletonGuessSavesAFetch: phase 2 asks for the sections a message's
// plan most likely needs together with its BODYSTRUCTURE, so a single part
// or text and HTML alternatives take one UID FETCH; a message whose plan
// asks for more (the text is not part 1, an attachment, a report) gets a
// second one, and every skeleton is the same as without the guess.
// TestDovecotSkeletonGuess checks the same against Dovecot.
func TestSkeletonGuessSavesAFetch(t *testing.T) {
	checkSkeletonGuess(t, syncRelevant)
}

// checkSkeletonGuess syncs six messages with sync, which returns them and
// the proxy the client talked through, and checks their skeletons and the
// UID FETCH commands of phase 2.
func checkSkeletonGuess(t *testing.T, sync func(*testing.T, ...[]byte) ([]*Message, *proxy)) {
	head := func(i int, ct string) string {
		h := fmt.Sprintf("From: prof%d@uni.example.edu\r\nTo: me@example.org\r\nSubject: note %d\r\n"+
			"Message-ID: <g%d@uni.example.edu>\r\nMIME-Version: 1.0\r\n", i, i, i)
		if ct != "" {
			h += "Content-Type: " + ct + "\r\n"
		}
		return h + "\r\n"
	}
	alt := func(first, second string) string {
		return "--b\r\nContent-Type: " + first + "\r\n\r\n" + map[bool]string{true: "plain words", false: "<p>html words</p>"}[first == "text/plain"] +
			"\r\n--b\r\nContent-Type: " + second + "\r\n\r\n" + map[bool]string{true: "plain words", false: "<p>html words</p>"}[second == "text/plain"] +
			"\r\n--b--\r\n"
	}
	msgs := [][]byte{
		[]byte(head(1, "") + "plain words\r\n"),                                                                                  // no Content-Type: text/plain
		[]byte(head(2, "text/plain; charset=utf-8") + "plain words\r\n"),                                                         // one part
		[]byte(head(3, "multipart/alternative; boundary=b") + alt("text/plain", "text/html")),                                    // the usual pair
		[]byte(head(4, "multipart/alternative; boundary=b") + "--b\r\nContent-Type: text/plain\r\n\r\nplain words\r\n--b--\r\n"), // no part 2
		[]byte(head(5, "multipart/alternative; boundary=b") + alt("text/html", "text/plain")),                                    // the text is part 2
		[]byte(head(6, "multipart/mixed; boundary=m") + "--m\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			alt("text/plain", "text/html") + "--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment\r\n\r\nJVBERi0=\r\n--m--\r\n"),
	}
	got, p := sync(t, msgs...)
	wantTypes := []string{"", "", "text/plain,text/html", "text/plain", "text/html,text/plain",
		"multipart/alternative,text/plain,text/html,application/pdf"}
	for i, m := range got {
		raw := string(m.Raw)
		if m.ParseError != "" {
			t.Errorf("UID %d: ParseError %q", m.UID, m.ParseError)
		}
		if !strings.Contains(raw, "plain words") || strings.Contains(raw, "html words") {
			t.Errorf("UID %d: skeleton without its plain text, or with the HTML:\n%s", m.UID, raw)
		}
		if !strings.Contains(raw, fmt.Sprintf("Message-ID: <g%d@uni.example.edu>", i+1)) {
			t.Errorf("UID %d: skeleton without its full header:\n%s", m.UID, raw)
		}
		if types := partTypes(t, m.Raw); types != wantTypes[i] {
			t.Errorf("UID %d: skeleton parts %q, want %q", m.UID, types, wantTypes[i])
		}
	}
	// Phase 2: one UID FETCH per guess (none; the body text; the
	// alternatives), then one per distinct plan, of UIDs 5 and 6 only.
	var structure, planned []string
	for _, line := range strings.Split(p.commands(), "\r\n") {
		_, rest, ok := strings.Cut(line, "UID FETCH ")
		uids, _, _ := strings.Cut(rest, " ")
		switch {
		case !ok || strings.Contains(line, "HEADER.FIELDS"):
		case strings.Contains(line, "BODYSTRUCTURE"):
			structure = append(structure, uids)
		default:
			planned = append(planned, uids)
		}
	}
	slices.Sort(structure)
	slices.Sort(planned)
	if fmt.Sprint(structure) != "[1:2 3:5 6]" || fmt.Sprint(planned) != "[5 6]" {
		t.Errorf("phase 2 fetched structures of %v and planned sections of %v, want [1:2 3:5 6] and [5 6]:\n%s",
			structure, planned, p.commands())
	}
}

// TestSkeletonGuessRefused: a server that answers BAD to the guessed
// sections gets phase 2 without them, from then on, and every skeleton is
// still whole.
func TestSkeletonGuessRefused(t *testing.T) {
	s := newMemServer(t, serverConfig{refuseGuess: true})
	note := func(i int) []byte {
		return []byte(fmt.Sprintf("From: prof%d@uni.example.edu\r\nTo: me@example.org\r\nSubject: note %d\r\n"+
			"Message-ID: <r%d@uni.example.edu>\r\n\r\nNote %d.\r\n", i, i, i, i))
	}
	s.appendMsgs(t, "INBOX", note(1), note(2))
	c, p := s.dialProxied(t)
	var col collector
	cur, err := c.Sync(context.Background(), "INBOX", Cursor{}, SyncOptions{Relevant: allRelevant}, col.emit)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	s.appendMsgs(t, "INBOX", note(3))
	if _, err := c.Sync(context.Background(), "INBOX", cur, SyncOptions{Relevant: allRelevant}, col.emit); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	for _, b := range col.batches {
		for _, m := range b.Messages {
			if want := fmt.Sprintf("Note %d.", m.UID); !strings.Contains(string(m.Raw), want) || m.ParseError != "" {
				t.Errorf("UID %d: skeleton %q (ParseError %q), want its text", m.UID, m.Raw, m.ParseError)
			}
		}
	}
	if n := len(col.uids()); n != 3 {
		t.Errorf("%d messages delivered, want 3", n)
	}
	guessed := 0
	for _, line := range strings.Split(p.commands(), "\r\n") {
		if strings.Contains(line, "BODYSTRUCTURE") && strings.Contains(line, "[TEXT]") {
			guessed++
		}
	}
	if guessed != 1 {
		t.Errorf("the guess was asked %d times, want once (refused, then never again):\n%s", guessed, p.commands())
	}
}
