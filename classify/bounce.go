package classify

import (
	"regexp"
	"strings"
	"unicode/utf8"

	outreach "github.com/outreach/outreach"
)

// reasonPattern maps diagnostic phrases to a Sisimai-style reason. Order
// matters: "550 5.1.0 Unknown address error ... Mailbox Full" is
// mailbox_full for Sisimai, so mailbox_full is tried before user_unknown.
type reasonPattern struct {
	reason  string
	phrases *phrases
}

var reasonPatterns = []reasonPattern{
	{ReasonMailboxFull, newPhrases("mailbox full", "mailbox is full", "mailboxfull", "quota", "exceeds allowed size",
		"exceeded storage", "disk space", "mailbox size limit", "full mailbox", "insufficient storage",
		"too many messages", "переполнен")},
	{ReasonTooLarge, newPhrases("message size", "too large", "size limit", "message too big", "exceeds the maximum size",
		"mesgtoobig", "message length exceeds", "too big")},
	{ReasonSpam, newPhrases("spam", "bulk email", "junk mail", "content rejected", "message content")},
	{ReasonBlocked, newPhrases("blocked", "blacklist", "blocklist", "banned", "dnsbl", " rbl", "reputation",
		"smtp server of your isp", "dynamic ip", "client host rejected", "reverse dns", "ptr record",
		"requireptr", "not accepting mail from")},
	{ReasonPolicy, newPhrases("dmarc", "spf ", "spf:", "dkim", "not authorized", "unauthorized", "policy",
		"send mail as", "relay access denied", "relaying denied", "not permitted", "not allowed to send",
		"authentication")},
	{ReasonHostUnknown, newPhrases("host not found", "domain name not found", "dns error", "no such domain",
		"host unknown", "unknown host", "domain not found", "name service error", "no mx", "mx record",
		"nxdomain", "domain does not exist", "hostunknown", "unrouteable mail domain", "unroutable domain")},
	{ReasonUserUnknown, newPhrases("user unknown", "unknown user", "no such user", "unknown recipient",
		"recipient not found", "recipientnotfound", "recipnotfound", "does not exist", "doesn't exist",
		"not listed", "invalid recipient", "invalid address", "address rejected", "no account",
		"unknown address", "not recognized", "address not found", "no mailbox", "mailbox unavailable",
		"mailbox not found", "unknown e-mail address", "no longer on server", "destinataire invalide",
		"user not found", "mailbox not available", "no such recipient", "not our customer",
		"userunknown", "unrouteable address", "no such mailbox", "couldn't be found", "wasn't found")},
	{ReasonExpired, newPhrases("retry timeout exceeded", "retry time", "could not be delivered for",
		"cannot send message for", "delivery time expired", "message expired", "expired", "timed out",
		"too many retries", "attempts", "lifetime", "queue too long")},
}

// reasonFromStatus maps RFC 3463 enhanced status codes to a reason.
func reasonFromStatus(status string) string {
	if len(status) < 5 {
		return ReasonOther
	}
	switch detail := status[2:]; detail {
	case "1.0", "1.1", "1.6", "1.10", "2.1":
		return ReasonUserUnknown
	case "1.2", "4.4":
		return ReasonHostUnknown
	case "2.2":
		return ReasonMailboxFull
	case "2.3", "3.4":
		return ReasonTooLarge
	case "4.7", "4.1":
		return ReasonExpired
	case "7.1":
		return ReasonBlocked
	}
	if strings.HasPrefix(status[2:], "7.") {
		return ReasonPolicy
	}
	return ReasonOther
}

// bounceReason reads the diagnostic first, then the status code, then the
// notification text.
func bounceReason(status, diag, text string) string {
	if r := reasonFromPhrases(strings.ToLower(diag)); r != "" {
		return r
	}
	if r := reasonFromStatus(status); r != ReasonOther {
		return r
	}
	if r := reasonFromPhrases(text); r != "" {
		return r
	}
	return ReasonOther
}

func reasonFromPhrases(s string) string {
	if s == "" {
		return ""
	}
	for _, p := range reasonPatterns {
		if _, ok := containsAny(s, p.phrases); ok {
			return p.reason
		}
	}
	return ""
}

// isPermanent says whether a failure means the address is dead. Like
// Sisimai's hard/soft split, full mailboxes, blocks, spam filters,
// policy, size and expiry are soft even with a 5.x.x code: the address
// itself may be fine.
func isPermanent(reason, status string, textHard bool) bool {
	switch reason {
	case ReasonMailboxFull, ReasonBlocked, ReasonSpam, ReasonExpired, ReasonPolicy, ReasonTooLarge:
		return false
	}
	switch {
	case strings.HasPrefix(status, "5"):
		return true
	case strings.HasPrefix(status, "4"):
		return false
	}
	return textHard || reason == ReasonUserUnknown || reason == ReasonHostUnknown
}

// Plain-text bounce cues, lower-case.
var (
	daemonLocals  = []string{"mailer-daemon", "mailerdaemon", "postmaster", "mail-daemon", "mailer_daemon"}
	daemonNames   = newPhrases("mail delivery", "mailer-daemon", "mailer daemon", "postmaster", "mail administrator")
	bounceSubject = newPhrases("undeliverable", "undelivered mail", "delivery status notification", "returned mail",
		"mail delivery failed", "failure notice", "delivery failure", "non remis", "non recapitabile",
		"unzustellbar", "nondeliverable", "delivery has failed", "mail system error", "mail delivery status",
		"delivery notification", "could not send message", "delivery failed", "bounce notification",
		"delayed mail", "недоставленное сообщение", "message delayed", "delivery problem", "returned to sender",
		"warning: message", "mail could not be delivered", "delivery final failure", "nicht zustellbar")
	bounceBody = newPhrases("failed permanently", "could not be delivered", "did not reach the following recipient",
		"following recipient", "following address", "permanent error", "permanent failure", "user unknown",
		"was not delivered", "delivery failed", "undeliverable", "message was rejected", "was rejected",
		"unable to deliver", "could not deliver", "delivery to the following", "not yet been delivered",
		"delivery has failed", "returned to sender", "mailbox is full", "mailbox full", "domain name not found",
		"couldn't be delivered", "wasn't delivered", "message could not be sent", "recipient address rejected",
		"not be delivered", "delivery attempts", "mail delivery software")
	delayCues = newPhrases("delayed", "delay)", "still being retried", "will retry", "not yet been delivered",
		"could not send message for past", "will continue", "no action is required", "warning: message")
	hardCues = newPhrases("failed permanently", "permanent error", "permanent failure", "unrecoverable error",
		"giving up", "will be deleted from queue", "has been returned")
)

// Returned-message markers: a plain-text bounce quotes the original after
// a line such as "------ This is a copy of the message", "Original message
// follows." or "--- Below this line is a copy of the message.", so
// recipients are read from the notice before it.
var (
	markerWords   = newPhrases("original", "returned", "copy", "message", "headers", "below")
	markerPhrases = []string{"original message", "a copy of the", "below is a copy", "bounced e-mail",
		"undelivered message", "headers of the original", "message headers follow", "returned mail follows"}
)

// markerIndex returns the offset of the first returned-message marker
// line in text, or -1.
func markerIndex(text string) int {
	for off := 0; off < len(text); {
		end := strings.IndexByte(text[off:], '\n')
		if end < 0 {
			end = len(text) - off
		}
		line := strings.TrimLeft(text[off:off+end], " \t>")
		if mayBeMarker(line) && isMarkerLine(strings.ToLower(line)) {
			return off
		}
		off += end + 1
	}
	return -1
}

// markerInitial has the first byte of every marker line, lower-cased:
// the separators and the first letters of markerPhrases.
var markerInitial = func() (set [256]bool) {
	for _, c := range []byte("-=_*") {
		set[c] = true
	}
	for _, p := range markerPhrases {
		set[p[0]] = true
	}
	return set
}()

// mayBeMarker rules out, without lower-casing it, a line whose first byte
// starts no marker. A first byte outside ASCII may lower-case to ASCII
// (the Kelvin sign to "k"), so such a line is always looked at.
func mayBeMarker(line string) bool {
	if line == "" {
		return false
	}
	c := line[0]
	if c >= utf8.RuneSelf {
		return true
	}
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	return markerInitial[c]
}

func isMarkerLine(l string) bool {
	if len(l) > 200 {
		return false
	}
	if strings.HasPrefix(l, "--") || strings.HasPrefix(l, "==") || strings.HasPrefix(l, "__") || strings.HasPrefix(l, "**") {
		_, ok := containsAny(l, markerWords)
		return ok
	}
	for _, p := range markerPhrases {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// Mailing-list managers that refuse a post from a non-member reply with a
// notice that is a rejection of our mail (Sisimai: "rejected").
var listRejectPhrases = newPhrases("not a member", "are not member", "non-member", "nonmember", "only members",
	"members only", "not allowed to post", "post by non-member")

// listRejection reports a list server's refusal of a post.
func listRejection(f *facts) (string, bool) {
	h := f.msg.header
	if !(h.has("x-mlserver") || h.has("mailing-list") || h.has("list-id") || h.has("list-subscribe") ||
		h.has("x-mailman-version")) {
		return "", false
	}
	return listRejectPhrases.first(f.lsubject, capString(f.ltext, 4<<10))
}

// plainBounceRule recognises bounces without a delivery-status part: a
// mailer-daemon or postmaster sender, a bounce subject, X-Failed-Recipients
// (Exim), or failure wording and SMTP codes in the body.
func plainBounceRule(f *facts, r *Result) bool {
	signals, ok := plainBounceSignals(f)
	phrase, rejected := listRejection(f)
	if rejected {
		signals, ok = append(signals, "mailing-list server refused the post: \""+phrase+"\""), true
	}
	if !ok {
		return false
	}
	cues := f.lnotice + " " + f.lsubject
	_, hard := containsAny(cues, hardCues)
	_, delayish := containsAny(cues, delayCues)
	r.Kind, r.Confidence = outreach.MessageBounce, outreach.Likely
	if delayish && !hard {
		r.Kind = outreach.MessageDelay
	}
	r.Evidence = append(r.Evidence, signals...)
	if r.Kind == outreach.MessageDelay {
		r.because("delay wording without a final failure: not final")
	}
	fillPlainBounce(f, hard, rejected, r)
	return true
}

// plainBounceSignals lists the bounce cues present and whether together
// they make a bounce: a header cue plus a body cue, a bounce subject from a
// daemon or null sender, or X-Failed-Recipients alone.
func plainBounceSignals(f *facts) ([]string, bool) {
	var sig []string
	daemon := isDaemonSender(f)
	if daemon {
		sig = append(sig, "sender "+f.msg.header.get("from")+" is a mail system")
	}
	subj, subjOK := subjectBounceCue(f.lsubject)
	if subjOK {
		sig = append(sig, "bounce subject: \""+subj+"\"")
	}
	xfr := f.msg.header.get("x-failed-recipients") != ""
	if xfr {
		sig = append(sig, "X-Failed-Recipients header (Exim)")
	}
	body, bodyOK := containsAny(f.lnotice, bounceBody)
	if bodyOK {
		sig = append(sig, "bounce wording in body: \""+body+"\"")
	}
	if (daemon || subjOK) && smtpCodeRe.MatchString(f.text) {
		sig = append(sig, "SMTP reply code in body")
		bodyOK = true
	}
	ok := xfr || subjOK && (daemon || bodyOK || f.nullPath) || daemon && bodyOK
	return sig, ok
}

// isDaemonSender reports a From that names the mail system (RFC 5321
// section 4.5.5 notifications are sent by mailer-daemon or postmaster).
func isDaemonSender(f *facts) bool {
	for _, l := range daemonLocals {
		if f.fromLocal == l {
			return true
		}
	}
	_, ok := containsAny(strings.ToLower(f.fromName), daemonNames)
	return ok || strings.Contains(strings.ToLower(f.msg.header.get("from")), "mailer-daemon")
}

// subjectBounceCue matches bounce subjects, ignoring forwarded ones.
func subjectBounceCue(ls string) (string, bool) {
	if strings.HasPrefix(ls, "fw:") || strings.HasPrefix(ls, "fwd:") || strings.HasPrefix(ls, "tr:") ||
		strings.HasPrefix(ls, "wg:") {
		return "", false
	}
	return containsAny(ls, bounceSubject)
}

// noticePart returns the bounce's own words: the text before the returned
// message is quoted.
func noticePart(text string) string {
	if i := markerIndex(capString(text, 64<<10)); i > 0 {
		return text[:i]
	}
	return capString(text, 16<<10)
}

func capString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// fillPlainBounce fills status, reason, permanence, recipients and
// references from a plain-text bounce.
func fillPlainBounce(f *facts, hard, listRejected bool, r *Result) {
	notice := f.notice
	r.Status = statusFromText(notice)
	r.Reason = bounceReason(r.Status, notice, f.lnotice+" "+f.lsubject)
	if listRejected {
		r.Reason = ReasonPolicy
	}
	r.Permanent = r.Kind == outreach.MessageBounce && isPermanent(r.Reason, r.Status, hard)
	for _, a := range strings.Split(f.msg.header.get("x-failed-recipients"), ",") {
		r.addRecipient(a)
	}
	for _, d := range parseDSN(notice) {
		r.addRecipient(d.addr())
	}
	if len(r.FailedRecipients) == 0 {
		for _, a := range noticeRecipients(f, notice) {
			r.addRecipient(a)
		}
	}
	if len(r.FailedRecipients) == 0 {
		r.addRecipient(returnedTo(f, notice))
	}
	r.because("reason %s, status %s, permanent %t", r.Reason, orDash(r.Status), r.Permanent)
	r.addEmbeddedRefs(f)
	r.addRefs(quotedMessageIDs(f.text)...)
}

var (
	addrRe = regexp.MustCompile(`[A-Za-z0-9._%+\-=/!#$&'*?^{|}~]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+`)
	urlRe  = regexp.MustCompile(`(?i)(?:https?|ftp)://\S+`)
	toRe   = regexp.MustCompile(`(?im)^[ \t>]*to:[ \t]*(.+)$`)
)

// returnedTo is the To of the returned message, quoted after the notice or
// attached: with one recipient per message, that is who failed.
func returnedTo(f *facts, notice string) string {
	for _, h := range f.embeddedHeaders() {
		if a, _ := parseAddress(h.get("to")); a != "" {
			return a
		}
	}
	if m := toRe.FindStringSubmatch(f.text[len(notice):]); m != nil {
		a, _ := parseAddress(m[1])
		return a
	}
	return ""
}

// failureLineRe marks lines that talk about the failed recipient.
var failureLineRe = regexp.MustCompile(`(?i)^\s*<?[^\s@<>]+@[^\s<>]+>?\s*(:|$|on |\()|fail|unknown|not |reject|undeliver|error|full|quota|exist|invalid|target|recipient|address`)

// noticeRecipients picks addresses from a bounce notice: those on lines
// about the failure, skipping the bounce's own From/To and mail-system
// addresses.
func noticeRecipients(f *facts, notice string) []string {
	skip := map[string]bool{f.from: true}
	for _, name := range []string{"to", "cc", "reply-to", "sender"} {
		if a, _ := parseAddress(f.msg.header.get(name)); a != "" {
			skip[a] = true
		}
	}
	var preferred, all []string
	for _, line := range strings.Split(notice, "\n") {
		line = urlRe.ReplaceAllString(line, " ")
		for _, a := range addrRe.FindAllString(line, 5) {
			a = strings.ToLower(a)
			local := a[:strings.IndexByte(a, '@')]
			if skip[a] || isDaemonLocal(local) {
				continue
			}
			all = append(all, a)
			if failureLineRe.MatchString(line) {
				preferred = append(preferred, a)
			}
		}
	}
	if len(preferred) > 0 {
		return capList(preferred, 10)
	}
	return capList(all, 10)
}

func isDaemonLocal(local string) bool {
	for _, l := range daemonLocals {
		if local == l {
			return true
		}
	}
	return isNoReplyLocal(local)
}

func capList(xs []string, n int) []string {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}
