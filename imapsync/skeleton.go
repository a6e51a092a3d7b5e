package imapsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/mail"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// textLimit is how much of the chosen text part phase 2 downloads.
const textLimit = 16 << 10

// reportTypes are the MIME types kept whole in a skeleton: delivery and
// disposition reports (RFC 3464, RFC 6533, RFC 8098), feedback reports
// (RFC 5965) and returned headers (RFC 6522).
var reportTypes = map[string]bool{
	"message/delivery-status":                 true,
	"message/global-delivery-status":          true,
	"message/disposition-notification":        true,
	"message/global-disposition-notification": true,
	"message/feedback-report":                 true,
	"text/rfc822-headers":                     true,
	"message/global-headers":                  true,
}

// skelNode is one MIME part of a skeleton plan.
type skelNode struct {
	part     []int  // RFC 3501 section 6.4.5 part number; nil for the root
	boundary string // multipart only
	children []*skelNode
	content  *imap.FetchItemBodySection // what to download for this part, or nil
}

// plan is what phase 2 fetches for one message and how to reassemble it.
type plan struct {
	root     *skelNode
	sections []*imap.FetchItemBodySection
}

// signature identifies lists of sections that can share one UID FETCH.
func signature(sections []*imap.FetchItemBodySection) string {
	keys := make([]string, len(sections))
	for i, s := range sections {
		keys[i] = sectionKey(s.Part, s.Specifier, false)
		if s.Partial != nil {
			keys[i] += "<>"
		}
	}
	return strings.Join(keys, " ")
}

// makePlan walks BODYSTRUCTURE (RFC 3501 section 7.4.2) and decides what to
// download: MIME headers of every part, the first text/plain (else
// text/html) part up to textLimit, report parts whole, the header of an
// attached message/rfc822, and nothing else.
func makePlan(bs imap.BodyStructure) (*plan, error) {
	p := &plan{}
	mp, ok := bs.(*imap.BodyStructureMultiPart)
	if !ok {
		text := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true,
			Partial: &imap.SectionPartial{Size: textLimit}}
		p.root = &skelNode{content: text}
		p.sections = []*imap.FetchItemBodySection{text}
		return p, nil
	}
	textPart := chooseText(bs, "plain")
	if textPart == nil {
		textPart = chooseText(bs, "html")
	}
	root, err := p.walkMulti(mp, nil, textPart)
	p.root = root
	return p, err
}

// walkMulti plans a multipart body whose part number is path.
func (p *plan) walkMulti(mp *imap.BodyStructureMultiPart, path []int, textPart []int) (*skelNode, error) {
	n := &skelNode{part: path}
	if mp.Extended != nil {
		n.boundary = mp.Extended.Params["boundary"]
	}
	if n.boundary == "" {
		return nil, fmt.Errorf("multipart/%s part %v has no boundary", mp.Subtype, path)
	}
	for i, child := range mp.Children {
		cpath := append(append([]int(nil), path...), i+1)
		p.add(&imap.FetchItemBodySection{Part: cpath, Specifier: imap.PartSpecifierMIME, Peek: true})
		cn, err := p.walkChild(child, cpath, textPart)
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, cn)
	}
	return n, nil
}

// walkChild plans one part of a multipart.
func (p *plan) walkChild(bs imap.BodyStructure, path []int, textPart []int) (*skelNode, error) {
	if mp, ok := bs.(*imap.BodyStructureMultiPart); ok {
		return p.walkMulti(mp, path, textPart)
	}
	sp := bs.(*imap.BodyStructureSinglePart)
	n := &skelNode{part: path}
	switch typ := strings.ToLower(sp.MediaType()); {
	case samePart(path, textPart):
		n.content = &imap.FetchItemBodySection{Part: path, Peek: true,
			Partial: &imap.SectionPartial{Size: textLimit}}
	case reportTypes[typ]:
		n.content = &imap.FetchItemBodySection{Part: path, Peek: true}
	case typ == "message/rfc822" || typ == "message/global":
		n.content = &imap.FetchItemBodySection{Part: path, Specifier: imap.PartSpecifierHeader, Peek: true}
	}
	if n.content != nil {
		p.add(n.content)
	}
	return n, nil
}

// add appends a section to download.
func (p *plan) add(s *imap.FetchItemBodySection) { p.sections = append(p.sections, s) }

// samePart compares part numbers.
func samePart(a, b []int) bool {
	if a == nil || b == nil || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// chooseText returns the part number of the first inline text/<subtype>
// part, not descending into attached messages.
func chooseText(bs imap.BodyStructure, subtype string) []int {
	var found []int
	bs.Walk(func(path []int, part imap.BodyStructure) bool {
		if found != nil {
			return false
		}
		sp, ok := part.(*imap.BodyStructureSinglePart)
		if !ok {
			return true
		}
		if strings.EqualFold(sp.Type, "text") && strings.EqualFold(sp.Subtype, subtype) && !isAttachment(sp) {
			found = append([]int(nil), path...)
		}
		return false // never walk into message/rfc822
	})
	return found
}

// isAttachment reports Content-Disposition: attachment (RFC 2183).
func isAttachment(sp *imap.BodyStructureSinglePart) bool {
	d := sp.Disposition()
	return d != nil && strings.EqualFold(d.Value, "attachment")
}

// write assembles the skeleton body of n from the downloaded sections.
// Multipart delimiters follow RFC 2046 section 5.1.1: the CRLF before
// "--boundary" belongs to the delimiter.
func (n *skelNode) write(w *bytes.Buffer, sec map[string][]byte) {
	if n.boundary == "" {
		if n.content != nil {
			w.Write(sec[sectionKey(n.content.Part, n.content.Specifier, false)])
		}
		return
	}
	for i, ch := range n.children {
		if i > 0 {
			w.WriteString("\r\n")
		}
		w.WriteString("--" + n.boundary + "\r\n")
		w.Write(headerEnd(sec[sectionKey(ch.part, imap.PartSpecifierMIME, false)]))
		ch.write(w, sec)
	}
	w.WriteString("\r\n--" + n.boundary + "--\r\n")
}

// fillSkeletons runs phase 2 for msgs: BODYSTRUCTURE, the full header and
// the sections guessed from the top-level Content-Type (see guessSections)
// in one UID FETCH per guess, all pipelined; then, for the messages whose
// plan asks for more than that brought, the planned sections, one UID
// FETCH per distinct plan. A server that refuses a guess (NO or BAD: a part
// that does not exist is not an error for Dovecot or go-imap, but RFC 3501
// does not say) is asked without guesses from then on.
func (c *Conn) fillSkeletons(ctx context.Context, msgs []*Message) error {
	guess := func(m *Message) []*imap.FetchItemBodySection {
		if c.noGuess {
			return nil
		}
		return guessSections(m)
	}
	groups := groupBy(msgs, func(m *Message) string { return signature(guess(m)) })
	guesses := make([][]*imap.FetchItemBodySection, len(groups))
	reqs := make([]fetchRequest, len(groups))
	for i, g := range groups {
		guesses[i] = guess(g[0])
		reqs[i] = structureRequest(g, guesses[i])
	}
	got, failed, err := c.fetchGroups(ctx, groups, reqs)
	if err != nil {
		var refused *imap.Error
		if guesses[failed] != nil && errors.As(err, &refused) {
			c.noGuess = true
			return c.fillSkeletons(ctx, msgs)
		}
		return fmt.Errorf("phase 2 structure: %w", err)
	}
	plans := make(map[uint32]*plan, len(msgs))
	var rest []*Message
	for i, g := range groups {
		var done []*Message
		for _, m := range g {
			p := prepare(m, got[i][m.UID])
			switch {
			case p == nil:
			case covers(guesses[i], p.sections) && hasSections(got[i][m.UID], p.keys()):
				plans[m.UID], done = p, append(done, m)
			default:
				plans[m.UID], rest = p, append(rest, m)
			}
		}
		assemble(done, got[i], plans)
	}
	return c.fetchPlans(ctx, rest, plans)
}

// groupBy splits msgs by key, the groups in the order of their keys.
func groupBy(msgs []*Message, key func(*Message) string) [][]*Message {
	byKey := map[string][]*Message{}
	for _, m := range msgs {
		k := key(m)
		byKey[k] = append(byKey[k], m)
	}
	out := make([][]*Message, 0, len(byKey))
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		out = append(out, byKey[k])
	}
	return out
}

// fetchGroups sends one UID FETCH per group (reqs[i] for groups[i]), all
// pipelined, and returns each group's answers by UID. When one fails it
// returns its index and error, after waiting for those sent after it, so
// that the connection stays usable.
func (c *Conn) fetchGroups(ctx context.Context, groups [][]*Message, reqs []fetchRequest) ([]map[uint32]*rawMsg, int, error) {
	cmds := make([]*fetchCmd, len(groups))
	for i, g := range groups {
		cmds[i] = c.startFetch(uidSetOf(g), reqs[i].opts)
	}
	out := make([]map[uint32]*rawMsg, len(groups))
	for i := range groups {
		got, err := c.finishFetch(ctx, cmds[i], reqs[i])
		if err != nil {
			for _, cmd := range cmds[i+1:] {
				c.settle(ctx, cmd)
			}
			return nil, i, err
		}
		out[i] = make(map[uint32]*rawMsg, len(got))
		for _, r := range got {
			out[i][r.uid] = r
		}
	}
	return out, -1, nil
}

// structureRequest is phase 2's first UID FETCH for msgs: BODYSTRUCTURE,
// the full header and the guessed sections (which a server may leave out:
// the plan's own UID FETCH then asks for what is missing).
func structureRequest(msgs []*Message, guess []*imap.FetchItemBodySection) fetchRequest {
	set := uidSetOf(msgs)
	sections := append([]*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}}, guess...)
	return fetchRequest{
		opts: &imap.FetchOptions{UID: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
			BodySection: sections},
		complete: func(m *rawMsg) bool { return m.bs != nil && m.sections["HEADER"] != nil },
		inRange:  func(uid uint32) bool { return set.Contains(imap.UID(uid)) },
		known:    uidsOf(msgs),
	}
}

// guessSections returns the sections m's plan most likely asks for,
// judged from the Content-Type fetched in phase 1, so that the usual
// message (a single part; text and HTML alternatives) takes one UID FETCH
// in phase 2 instead of two: one round trip less before a reply is known.
// Only MIME headers and text up to textLimit are guessed, never a whole
// part: a wrong guess costs at most textLimit bytes, and a part that does
// not exist comes back empty (RFC 3501 leaves it open; Dovecot and go-imap
// send an empty string). Nothing is guessed for a message whose header
// phase 1 did not read (a catch-up) or for other multiparts (mixed,
// report, related: their plans vary).
func guessSections(m *Message) []*imap.FetchItemBodySection {
	if m.HeaderUnreadable() {
		return nil
	}
	text := func(part ...int) *imap.FetchItemBodySection {
		s := &imap.FetchItemBodySection{Part: part, Peek: true, Partial: &imap.SectionPartial{Size: textLimit}}
		if part == nil {
			s.Specifier = imap.PartSpecifierText
		}
		return s
	}
	mimeOf := func(part ...int) *imap.FetchItemBodySection {
		return &imap.FetchItemBodySection{Part: part, Specifier: imap.PartSpecifierMIME, Peek: true}
	}
	ct := m.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case ct == "" || (err == nil && !strings.HasPrefix(mt, "multipart/")):
		return []*imap.FetchItemBodySection{text()} // RFC 2045 section 5.2: text/plain by default
	case mt == "multipart/alternative":
		return []*imap.FetchItemBodySection{mimeOf(1), text(1), mimeOf(2)}
	}
	return nil
}

// covers reports whether every section of a plan is one of the guessed
// ones, asked the same way (same part, specifier and range).
func covers(guess, planned []*imap.FetchItemBodySection) bool {
	for _, p := range planned {
		if !slices.ContainsFunc(guess, func(g *imap.FetchItemBodySection) bool { return sameSection(g, p) }) {
			return false
		}
	}
	return true
}

// sameSection compares two body sections without header-field lists.
func sameSection(a, b *imap.FetchItemBodySection) bool {
	return slices.Equal(a.Part, b.Part) && a.Specifier == b.Specifier &&
		(a.Partial == nil) == (b.Partial == nil) && (a.Partial == nil || *a.Partial == *b.Partial)
}

// keys are the sectionKeys of the plan's sections.
func (p *plan) keys() []string {
	keys := make([]string, len(p.sections))
	for i, s := range p.sections {
		keys[i] = sectionKey(s.Part, s.Specifier, false)
	}
	return keys
}

// hasSections reports whether m holds every section in keys.
func hasSections(m *rawMsg, keys []string) bool {
	for _, k := range keys {
		if _, ok := m.sections[k]; !ok {
			return false
		}
	}
	return true
}

// prepare replaces m's header by the full one and plans its sections; nil
// when nothing more can be fetched (m.ParseError then says why).
func prepare(m *Message, r *rawMsg) *plan {
	if r == nil || r.sections["HEADER"] == nil || r.bs == nil {
		m.ParseError = joinProblem(m.ParseError, "skeleton: server returned no BODYSTRUCTURE or header")
		return nil
	}
	m.Header = r.sections["HEADER"]
	m.parseHeader()
	p, err := makePlan(r.bs)
	if err != nil {
		m.Raw = headerEnd(m.Header)
		m.ParseError = joinProblem(m.ParseError, "skeleton: "+err.Error())
		return nil
	}
	return p
}

// fetchPlans downloads the planned sections, grouped by plan signature, and
// assembles each message's Raw.
func (c *Conn) fetchPlans(ctx context.Context, msgs []*Message, plans map[uint32]*plan) error {
	groups := groupBy(msgs, func(m *Message) string { return signature(plans[m.UID].sections) })
	reqs := make([]fetchRequest, len(groups))
	for i, g := range groups {
		reqs[i] = sectionRequest(g, plans[g[0].UID])
	}
	got, _, err := c.fetchGroups(ctx, groups, reqs)
	if err != nil {
		return fmt.Errorf("phase 2 sections: %w", err)
	}
	for i, g := range groups {
		assemble(g, got[i], plans)
	}
	return nil
}

// sectionRequest is the UID FETCH of one plan's sections for msgs.
func sectionRequest(msgs []*Message, p *plan) fetchRequest {
	set, keys := uidSetOf(msgs), p.keys()
	return fetchRequest{
		opts:     &imap.FetchOptions{UID: true, BodySection: p.sections},
		complete: func(m *rawMsg) bool { return hasSections(m, keys) },
		inRange:  func(uid uint32) bool { return set.Contains(imap.UID(uid)) },
		known:    uidsOf(msgs),
	}
}

// uidsOf lists msgs' UIDs.
func uidsOf(msgs []*Message) []uint32 {
	out := make([]uint32, len(msgs))
	for i, m := range msgs {
		out[i] = m.UID
	}
	return out
}

// assemble builds Raw for each message from its downloaded sections and
// checks that the result parses as MIME.
func assemble(msgs []*Message, byUID map[uint32]*rawMsg, plans map[uint32]*plan) {
	for _, m := range msgs {
		var sec map[string][]byte
		if r := byUID[m.UID]; r != nil {
			sec = r.sections
		}
		var buf bytes.Buffer
		buf.Write(headerEnd(m.Header))
		plans[m.UID].root.write(&buf, sec)
		m.Raw = buf.Bytes()
		if err := checkMIME(m.Raw); err != nil {
			m.ParseError = joinProblem(m.ParseError, "skeleton: "+err.Error())
		}
	}
}

// joinProblem appends a problem to a ParseError.
func joinProblem(old, p string) string {
	if old == "" {
		return p
	}
	return old + "; " + p
}

// uidSetOf is the UID set of msgs.
func uidSetOf(msgs []*Message) imap.UIDSet {
	var set imap.UIDSet
	for _, m := range msgs {
		set.AddNum(imap.UID(m.UID))
	}
	return set
}

// checkMIME parses raw with net/mail and walks every multipart level with
// mime/multipart, as the classifier will.
func checkMIME(raw []byte) error {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return checkPart(msg.Header.Get("Content-Type"), msg.Body, 0)
}

// checkPart reads one entity body, recursing into multiparts.
func checkPart(contentType string, body io.Reader, depth int) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || depth > 20 {
		_, err := io.Copy(io.Discard, body)
		return err
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := checkPart(part.Header.Get("Content-Type"), part, depth+1); err != nil {
			return err
		}
	}
}

// Skeletons examines mailbox (read-only) and fetches the skeleton (phase
// 2) of each message in uids, which belong to uidValidity, for messages
// stored earlier without one. A message the server no longer has comes back with
// Raw nil and ParseError saying so; the others with the fields of their
// full header parsed.
func (c *Conn) Skeletons(ctx context.Context, mailbox string, uidValidity uint32, uids []uint32) ([]*Message, error) {
	sel, err := c.selectMailbox(ctx, mailbox, true)
	if err != nil {
		return nil, err
	}
	if sel.UIDValidity != uidValidity {
		return nil, fmt.Errorf("imapsync: %s: UIDVALIDITY changed (%d, now %d)", mailbox, uidValidity, sel.UIDValidity)
	}
	c.strays.reset()
	msgs := make([]*Message, len(uids))
	for i, uid := range uids {
		msgs[i] = &Message{UID: uid}
	}
	if err := c.fillSkeletons(ctx, msgs); err != nil {
		return nil, fmt.Errorf("imapsync: skeletons in %s: %w", mailbox, err)
	}
	return msgs, nil
}
