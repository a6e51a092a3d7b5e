package classify

import (
	"strings"

	outreach "github.com/outreach/outreach"
)

// Challenge-response systems ask the sender to prove they are human
// before delivering (Bluebottle, Boxbe, SpamArrest, Mailinblack). Strong
// phrases name such a system; weak ones count only in machine mail, so a
// person who writes "add me to your whitelist" stays human.
var (
	challengeHeaders = []string{"x-bluebottle-request", "x-boxbe-request", "x-spamarrest-challenge", "x-mib-challenge"}
	challengeStrong  = newPhrases("boxbe", "spamarrest", "spam arrest", "mailinblack", "please confirm you are human",
		"confirm that you are human", "confirm that you are a human", "prove you are human", "prove that you are human",
		"challenge-response", "challenge/response", "this account is protected by", "click the link below to be added")
	challengeWeak = newPhrases("verify your message", "verify that you are", "verify your email", "verify your e-mail",
		"to ensure delivery of your email", "allowed list", "guest list", "approved senders", "whitelist",
		"requires confirmation", "confirm your message", "confirm your email")
)

// challengeRule recognises challenge-response requests, even when they
// arrive dressed as delivery reports.
func challengeRule(f *facts, r *Result) bool {
	for _, h := range challengeHeaders {
		if f.msg.header.has(h) {
			r.because("challenge-response header %s", headerName(h))
			return setAutoReply(f, r, ReasonChallenge, outreach.Certain)
		}
	}
	found := challengeWording.find(f.lsubject, f.lnotice)
	if i := found[0]; i < len(challengeStrong.list) {
		r.because("challenge-response wording: %q", challengeStrong.list[i])
		return setAutoReply(f, r, ReasonChallenge, outreach.Likely)
	}
	i := found[1]
	if i == len(challengeWeak.list) || !f.looksMachineMade() {
		return false
	}
	r.because("challenge-response wording %q in machine mail", challengeWeak.list[i])
	return setAutoReply(f, r, ReasonChallenge, outreach.Unsure)
}

// challengeWording searches both challenge lists in one pass.
var challengeWording = newPhraseIndex(challengeStrong, challengeWeak)

// looksMachineMade reports any header sign of automated mail.
func (f *facts) looksMachineMade() bool {
	h := f.msg.header
	p := strings.ToLower(strings.TrimSpace(h.get("precedence")))
	return f.nullPath || isDaemonSender(f) || isNoReplyLocal(f.fromLocal) || h.has("auto-submitted") ||
		f.msg.mediaType == "multipart/report" || p == "bulk" || p == "junk" || h.has("x-auto-response-suppress")
}

// Auto-reply subjects in the languages Outlook, Exchange, Gmail, Apple
// Mail, Zimbra and common webmails use. Strong ones are enough alone.
var (
	autoSubjectsStrong = newPhrases("automatic reply", "auto reply", "autoreply", "auto-reply", "automatic response",
		"auto response", "autoresponse", "autorespons", "auto-response", "out of office", "out of the office",
		"abwesenheitsnotiz", "automatische antwort", "réponse automatique", "reponse automatique",
		"respuesta automática", "respuesta automatica", "resposta automática", "resposta automatica",
		"risposta automatica", "automatyczna odpowiedź", "automatyczna odpowiedz", "autosvar",
		"automatisch antwoord", "automaattinen vastaus", "automatické odpověď", "自動応答", "自动回复",
		"автоответ", "автоматический ответ", "out-of-office", "vacation reply", "fuera de la oficina",
		"absence du bureau", "fuori sede")
	// Weak subjects also fit a person's own words: they need a header sign.
	autoSubjectsWeak = newPhrases("abwesend", "im urlaub", "on vacation", "on leave", "away from the office",
		"away from my desk", "away until", "ausente", "férias", "ferie", "absence", "absent", "vacation", "holiday")
	autoBodyPhrases = newPhrases("out of the office", "out of office", "i am away", "i'm away", "i am currently away",
		"on vacation", "on holiday", "on leave", "annual leave", "parental leave", "maternity leave",
		"limited access to email", "limited access to e-mail", "no access to email", "will respond",
		"reply as soon as possible", "respond as soon as possible", "upon my return", "back in the office",
		"thank you for your e-mail", "thank you for your email", "thank you for your message",
		"this is an automatic", "this is an automated", "automatically generated", "auto-generated",
		"abwesend", "nicht im büro", "im urlaub", "absent", "en congé", "de vacaciones", "fuera de la oficina",
		"de férias", "ausente", "in ferie", "fuori ufficio", "no longer", "ticket")
)

// autoReplyRule recognises RFC 3834 auto-replies and their vendor
// look-alikes. Precedence: bulk|junk alone is not enough.
func autoReplyRule(f *facts, r *Result) bool {
	conf, ok := autoReplyHeaders(f, r)
	if !ok {
		conf, ok = autoReplyHeuristics(f, r)
	}
	if !ok {
		return false
	}
	return setAutoReply(f, r, autoReplyReason(f), conf)
}

// autoReplyHeaders checks the machine-readable markers.
func autoReplyHeaders(f *facts, r *Result) (outreach.Confidence, bool) {
	h := f.msg.header
	if v := strings.ToLower(strings.TrimSpace(h.get("auto-submitted"))); v != "" && !strings.HasPrefix(v, "no") {
		r.because("Auto-Submitted: %s (RFC 3834)", v)
		if strings.HasPrefix(v, "auto-replied") || autoSubjectOrBody(f) {
			return outreach.Certain, true
		}
		if _, list := listReason(h); list {
			return "", false // a newsletter or notification: listRule says so
		}
		r.because("auto-generated without auto-reply wording: a notification that may be automated")
		return outreach.Unsure, true
	}
	for _, name := range []string{"x-autoreply", "x-autorespond", "x-autoresponder", "x-autogenerated", "x-mail-autoreply"} {
		if v := strings.ToLower(h.get(name)); h.has(name) && v != "no" && v != "false" {
			r.because("%s header", headerName(name))
			return outreach.Certain, true
		}
	}
	if strings.EqualFold(strings.TrimSpace(h.get("x-apple-action")), "vacation") {
		r.because("X-Apple-Action: VACATION (iCloud vacation reply)")
		return outreach.Certain, true
	}
	if h.has("x-auto-response-suppress") && h.has("x-ms-exchange-inbox-rules-loop") {
		r.because("X-Auto-Response-Suppress with X-MS-Exchange-Inbox-Rules-Loop (Exchange automatic reply)")
		return outreach.Certain, true
	}
	if p := strings.ToLower(strings.TrimSpace(h.get("precedence"))); p == "auto_reply" || p == "auto-reply" {
		r.because("Precedence: %s", p)
		return outreach.Certain, true
	}
	return "", false
}

// autoReplyHeuristics uses subjects and weak headers together.
func autoReplyHeuristics(f *facts, r *Result) (outreach.Confidence, bool) {
	subj, subjOK := containsAny(f.lsubject, autoSubjectsStrong)
	body, bodyOK := containsAny(capString(f.ltext, 4<<10), autoBodyPhrases)
	p := strings.ToLower(strings.TrimSpace(f.msg.header.get("precedence")))
	bulk := p == "bulk" || p == "junk"
	switch {
	case subjOK && (bulk || f.nullPath || bodyOK):
		r.because("auto-reply subject %q with a second signal", subj)
		return outreach.Likely, true
	case subjOK && !f.msg.header.has("in-reply-to"):
		r.because("auto-reply subject %q", subj)
		return outreach.Likely, true
	case subjOK:
		r.because("auto-reply subject %q, but the message also threads like a reply", subj)
		return outreach.Unsure, true
	case bulk && (f.nullPath || bodyOK):
		r.because("Precedence: %s with %s", p, secondSignal(f.nullPath, body))
		return outreach.Likely, true
	case bulk || f.nullPath:
		if weak, ok := containsAny(f.lsubject, autoSubjectsWeak); ok {
			r.because("absence subject %q with Precedence: %s or Return-Path: <>", weak, orDash(p))
			return outreach.Likely, true
		}
		if f.nullPath && bodyOK {
			r.because("Return-Path: <> with auto-reply wording %q", body)
			return outreach.Unsure, true
		}
	}
	return "", false
}

func secondSignal(nullPath bool, body string) string {
	if nullPath {
		return "Return-Path: <>"
	}
	return "auto-reply wording \"" + body + "\""
}

func autoSubjectOrBody(f *facts) bool {
	_, s := containsAny(f.lsubject, autoSubjectsStrong)
	_, b := containsAny(capString(f.ltext, 4<<10), autoBodyPhrases)
	return s || b
}

func headerName(lower string) string {
	parts := strings.Split(lower, "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

// Reason phrases, lower-case.
var (
	leftPhrases = newPhrases("no longer with", "no longer in use", "no longer monitored", "no longer active",
		"no longer work", "no longer employed", "no longer at ", "no longer part of", "no longer valid",
		"has left", "have left", "left the university", "left the company", "left the institut",
		"zukünftig", "nicht mehr", "ne fait plus partie", "n'est plus", "ya no ", "não faz mais parte",
		"não trabalha mais", "non fa più parte", "non è più", "new email address", "new e-mail address",
		"new address", "neue adresse", "nouvelle adresse", "nueva dirección", "novo endereço", "nuovo indirizzo")
	ticketPhrases = newPhrases("ticket #", "ticket number", "ticket id", "ticket:", "[ticket", "ticket no",
		"request #", "request number", "case number", "case #", "case id", "your request has been received",
		"we have received your request", "we received your request", "support request", "helpdesk",
		"help desk", "service desk", "reference number", "has been logged", "a support agent")
	vacationPhrases = newPhrases("out of office", "out of the office", "away", "vacation", "holiday", "leave",
		"return", "back on", "back in", "abwesen", "urlaub", "nicht im büro", "congé", "absent", "vacances",
		"vacaciones", "fuera de la oficina", "férias", "ausente", "ferie", "fuori ufficio", "fuori sede",
		"travel", "conference", "limited access")
)

// autoReplyReason picks challenge, left, ticket, vacation or other.
func autoReplyReason(f *facts) string {
	found := reasonWording.find(f.lsubject, capString(f.ltext, 8<<10))
	switch {
	case found[0] < len(challengeStrong.list):
		return ReasonChallenge
	case found[1] < len(leftPhrases.list):
		return ReasonLeft
	case found[2] < len(ticketPhrases.list):
		return ReasonTicket
	case found[3] < len(vacationPhrases.list) || strings.EqualFold(f.msg.header.get("x-apple-action"), "vacation"):
		return ReasonVacation
	}
	return ReasonOther
}

// reasonWording searches the lists autoReplyReason reads in one pass.
var reasonWording = newPhraseIndex(challengeStrong, leftPhrases, ticketPhrases, vacationPhrases)

// setAutoReply fills r for an auto-reply with the given reason.
func setAutoReply(f *facts, r *Result, reason string, conf outreach.Confidence) bool {
	r.Kind, r.Reason, r.Confidence = outreach.MessageAutoReply, reason, conf
	r.because("reason %s", reason)
	switch reason {
	case ReasonVacation, ReasonOther:
		if d, why := returnDate(f); d != nil {
			r.ReturnDate = d
			r.because("return date %s from %s", d, why)
			r.Reason = ReasonVacation
		}
	case ReasonLeft:
		if a := newAddress(f); a != "" {
			r.NewAddress = a
			r.because("new address %s", a)
		}
	}
	r.addEmbeddedRefs(f)
	return true
}

// newAddress finds an address named after a "left" phrase that is not one
// of the message's own addresses.
func newAddress(f *facts) string {
	text := capString(f.ltext, 8<<10)
	start := len(text)
	for _, p := range leftPhrases.list {
		if i := strings.Index(text, p); i >= 0 && i < start {
			start = i
		}
	}
	if start == len(text) {
		return ""
	}
	own := f.ownAddresses()
	for _, a := range addrRe.FindAllString(text[start:], 10) {
		if a = strings.ToLower(a); !own[a] && !isDaemonLocal(a[:strings.IndexByte(a, '@')]) {
			return a
		}
	}
	return ""
}

// ownAddresses are the addresses in the message's own originator and
// recipient headers: never a "new address".
func (f *facts) ownAddresses() map[string]bool {
	own := map[string]bool{}
	for _, name := range []string{"from", "to", "cc", "reply-to", "sender", "return-path"} {
		for _, a := range addrRe.FindAllString(f.msg.header.get(name), 10) {
			own[strings.ToLower(a)] = true
		}
	}
	return own
}

// listRule recognises mailing-list and bulk mail (see listReason).
func listRule(f *facts, r *Result) bool {
	why, ok := listReason(f.msg.header)
	if !ok {
		return false
	}
	r.Kind, r.Confidence = outreach.MessageList, outreach.Certain
	r.because("%s", why)
	return true
}

// listReason tells mailing-list and bulk mail: RFC 2919 List-Id, RFC 2369
// List-* with Precedence, list-manager headers, owner- senders.
func listReason(h header) (string, bool) {
	p := strings.ToLower(strings.TrimSpace(h.get("precedence")))
	switch {
	case h.has("list-id"):
		return "List-Id header (RFC 2919)", true
	case h.has("list-unsubscribe") && (p == "bulk" || p == "list"):
		return "List-Unsubscribe (RFC 2369) with Precedence: " + p, true
	case h.has("x-mailman-version") || h.has("x-beenthere") || h.has("mailing-list") || h.has("x-mailing-list"):
		return "mailing-list manager header", true
	case p == "list":
		return "Precedence: list", true
	case p == "bulk" && isListSender(h.get("sender")):
		return "Precedence: bulk from a list owner Sender", true
	case h.has("list-unsubscribe") && h.has("list-post"):
		return "List-Unsubscribe with List-Post (RFC 2369)", true
	}
	return "", false
}

// isListSender reports Majordomo-style owner addresses.
func isListSender(v string) bool {
	a, _ := parseAddress(v)
	local, _, _ := strings.Cut(a, "@")
	return strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-owner") ||
		strings.HasSuffix(local, "-bounces") || strings.HasSuffix(local, "-request")
}

// noticeRule catches other machine mail: no-reply senders.
func noticeRule(f *facts, r *Result) bool {
	if !isNoReplyLocal(f.fromLocal) {
		return false
	}
	r.Kind, r.Confidence = outreach.MessageNotice, outreach.Unsure
	r.because("sender %s is a no-reply address: machine mail", f.from)
	return true
}
