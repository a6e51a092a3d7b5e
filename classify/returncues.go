package classify

import (
	"regexp"
	"strings"
)

// Cue patterns end where the date begins: a cue word, then at most a few
// words (a weekday, "the office on") without digits or a sentence end.
const cueGap = `[^0-9\n.!?;]{0,32}$`

var (
	// "back on", "returning to the office on", "wieder am", "de retour le",
	// "regreso el", "volto il", "rientro il", "retorno em".
	backCueRe = regexp.MustCompile(`(?:\bbe back|\bback in|\bback at|\bback on|\bback to (?:the )?(?:office|work|lab|clinic)|` +
		`\breturn(?:ing|s)?\b|\bresum(?:e|ing)\b|\bavailable again|\bin the office again|` +
		`\bwieder\b|zurück\b|\bde retour\b|\bretour\b|\bregres(?:aré|are|aremos|o)|\bde vuelta\b|` +
		`\bvolver(?:é|e)|\bvuelvo\b|\breincorpor\w*|\bretorn(?:o|arei|aremos)\b|\bregresso\b|\bde volta\b|` +
		`\bvolto\b|\brientr(?:erò|ero|o)|\bdi ritorno\b|\btorner(?:ò|o)|\bdi nuovo in ufficio\b)` + cueGap)
	// "until", "through", "bis einschließlich", "jusqu'au", "hasta el",
	// "até", "fino al".
	untilCueRe = regexp.MustCompile(`(?:\buntil\b|\btill\b|\btil\b|\bthrough\b|\bthru\b|\bup to and including\b|` +
		`\bbis\b|jusqu'|\bhasta\b|\baté|\bate\b|\bfino\b|\bsino al\b|\binclusive\b)` + cueGap)
	// "ab dem", "à partir du", "a partir del", "a partire dal", "from":
	// a start, which is the return only when a return word is near.
	fromCueRe = regexp.MustCompile(`(?:\bab(?: dem| den)?|à partir du|a partir du|\bdès le|\ba partir del?|` +
		`\ba partire dal|\bdal|\bfrom|\bstarting)\s*(?:[a-zäöüéèàâêîôûçñ]+,?\s+)?$`)
	returnWordRe = regexp.MustCompile(`wieder|zurück|erreichbar|retour|regres|vuelt|volver|volta|retorn|rientr|ritorno|torn|\bback\b|return|disponible|disponível|disponibile|available`)
	// A connector between two dates makes the second the end of a range.
	rangeGapRe = regexp.MustCompile(`^\s*(?:-|to|till|until|through|thru|bis(?: zum| einschließlich)?|au|al|a|e|and|` +
		`jusqu'au|hasta el|até|fino al)\s*$`)
)

// cueBefore reads the words before date i and says how it relates to the
// return. Between two dates a connector ("-", "to", "bis") marks a range.
func cueBefore(text string, all []dateMatch, i int) (cueKind, string) {
	m := all[i]
	if i > 0 && m.start-all[i-1].end <= 16 && rangeGapRe.MatchString(text[all[i-1].end:m.start]) {
		return cueRange, "the end of a date range"
	}
	win := text[max(0, m.start-80):m.start]
	if nl := strings.LastIndexByte(win, '\n'); nl >= 0 {
		win = win[nl+1:]
	}
	until, back := untilCueRe.FindStringIndex(win), backCueRe.FindStringIndex(win)
	if until != nil && (back == nil || until[0] > back[0]) && !strings.Contains(win[until[0]:], "back to you") {
		return cueUntil, "\"" + firstWord(win[until[0]:]) + "\" before"
	}
	if back != nil {
		return cueBack, "\"" + firstWord(win[back[0]:]) + "\" before"
	}
	if fromCueRe.MatchString(win) {
		sentence := text[max(0, m.start-80):min(len(text), m.end+80)]
		if returnWordRe.MatchString(sentence) {
			return cueBack, "a start date near a return word"
		}
	}
	return cueNone, ""
}

func firstWord(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \n"); i >= 0 {
		return s[:i]
	}
	return s
}

// Language markers, lower-case with spaces around, to choose the numeric
// date order: only English writes month first, and only in the US style.
var langMarkers = map[string][]string{
	"en": {" the ", " i ", " and ", " will ", " my ", " you ", " office "},
	"de": {" ich ", " und ", " bin ", " nicht ", " wieder ", " bis ", " ihre ", " im "},
	"fr": {" je ", " suis ", " et ", " le ", " vous ", " retour ", " du "},
	"es": {" estoy ", " el ", " y ", " hasta ", " su ", " oficina ", " estaré "},
	"pt": {" estou ", " até ", " em ", " não ", " você ", " estarei ", " seu "},
	"it": {" sono ", " il ", " fino ", " ufficio ", " sarò ", " della ", " non "},
}

// textLang guesses the language of an auto-reply by counting markers.
func textLang(text string) string {
	padded := " " + strings.Join(strings.Fields(text), " ") + " "
	best, bestN := "en", 0
	for _, lang := range []string{"en", "de", "fr", "es", "pt", "it"} {
		n := 0
		for _, w := range langMarkers[lang] {
			n += strings.Count(padded, w)
		}
		if n > bestN {
			best, bestN = lang, n
		}
	}
	return best
}

// numericOrder gives the orders to try for "05/07/2010": day first in
// every language but US English; an English text from a country-code
// domain or with Content-Language en-GB and the like is day first too.
func numericOrder(f *facts, text string) []string {
	if textLang(text) != "en" {
		return []string{"dmy", "mdy"}
	}
	lang := strings.ToLower(f.msg.header.get("content-language"))
	switch {
	case strings.HasPrefix(lang, "en-us"):
		return []string{"mdy", "dmy"}
	case strings.HasPrefix(lang, "en-") || dayFirstDomain(f.from):
		return []string{"dmy", "mdy"}
	}
	return []string{"mdy", "dmy"}
}

// dayFirstDomain reports country-code domains whose writers put the day
// first: every two-letter TLD but the US, the Philippines and Canada's
// mixed usage.
func dayFirstDomain(addr string) bool {
	dot := strings.LastIndexByte(addr, '.')
	if dot < 0 || strings.IndexByte(addr, '@') < 0 {
		return false
	}
	tld := addr[dot+1:]
	return len(tld) == 2 && tld != "us" && tld != "ph" && tld != "ca"
}
