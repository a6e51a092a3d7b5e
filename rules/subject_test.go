package rules

import "testing"

func TestNormalizeSubject(t *testing.T) {
	want := "research opportunity in endourology"
	cases := map[string]string{
		"plain":                 "Research opportunity in endourology",
		"re":                    "Re: Research opportunity in endourology",
		"RE upper, nested":      "RE: RE: Re: Research opportunity in endourology",
		"german AW":             "AW: Research opportunity in endourology",
		"german WG forward":     "WG: AW: Research opportunity in endourology",
		"nordic SV":             "SV: Research opportunity in endourology",
		"finnish VS":            "VS: Research opportunity in endourology",
		"dutch Antw":            "Antw: Research opportunity in endourology",
		"polish Odp":            "Odp: Research opportunity in endourology",
		"italian RIF":           "RIF: Research opportunity in endourology",
		"turkish YNT":           "YNT: Research opportunity in endourology",
		"french TR":             "TR: Research opportunity in endourology",
		"spanish RV":            "RV: Research opportunity in endourology",
		"portuguese ENC":        "ENC: Research opportunity in endourology",
		"greek":                 "ΑΠ: Research opportunity in endourology",
		"greek lower":           "απ: Research opportunity in endourology",
		"chinese 回复":            "回复: Research opportunity in endourology",
		"chinese full-width":    "答复：Research opportunity in endourology",
		"traditional 回覆":        "回覆：Research opportunity in endourology",
		"counter brackets":      "Re[2]: Research opportunity in endourology",
		"counter parens":        "RE(3): Research opportunity in endourology",
		"fwd":                   "Fwd: Research opportunity in endourology",
		"FW":                    "FW: Research opportunity in endourology",
		"gateway tag":           "[EXTERNAL] Re: Research opportunity in endourology",
		"gateway tag after re":  "RE: [EXTERNAL] Research opportunity in endourology",
		"star external":         "*EXTERNAL* RE: Research opportunity in endourology",
		"list tag":              "Re: [urology-residents] Research opportunity in endourology",
		"ticket tag":            "[Ticket#20261101] Research opportunity in endourology",
		"extra spaces and tabs": "Re:   Research\topportunity  in endourology ",
		"fwd suffix":            "Research opportunity in endourology (fwd)",
	}
	for name, in := range cases {
		if got := NormalizeSubject(in); got != want {
			t.Errorf("%s: NormalizeSubject(%q) = %q, want %q", name, in, got, want)
		}
	}
	// Words that merely start like a prefix are kept.
	for in, want := range map[string]string{
		"Research: next steps":   "research: next steps",
		"Rewarding mentorship":   "rewarding mentorship",
		"Travel plans":           "travel plans",
		"":                       "",
		"Re:":                    "",
		"[EXTERNAL]":             "",
		"Fwd: Re: Question [v2]": "question [v2]",
	} {
		if got := NormalizeSubject(in); got != want {
			t.Errorf("NormalizeSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNormalizeSubject(f *testing.F) {
	f.Add("Re: AW: [EXTERNAL] hello")
	f.Fuzz(func(t *testing.T, s string) {
		once := NormalizeSubject(s)
		if twice := NormalizeSubject(once); twice != once {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, once, twice)
		}
	})
}
