package web

import (
	"fmt"
	"net/http"
	"strings"
)

// settingsView is the policy in effect and who the applicant is; it is
// read-only: the configuration file is where these change.
type settingsView struct {
	Policy           []settingRow
	Profile          []settingRow
	FollowUpTemplate string
	AllowRemote      bool
}

type settingRow struct {
	Key, Value, Meaning string
}

func (s *Server) settings(w http.ResponseWriter, r *http.Request, sess *session) error {
	p := s.cfg.Policy.Effective()
	days := func(n int) string { return plural(n, "day") }
	window := days(p.FollowUpWindowDays)
	if p.FollowUpWindowDays == 0 {
		window = "no limit"
	}
	list := func(l []string) string {
		if len(l) == 0 {
			return "none"
		}
		return strings.Join(l, ", ")
	}
	v := settingsView{FollowUpTemplate: s.cfg.FollowUpTemplate, AllowRemote: s.cfg.AllowRemote,
		Policy: []settingRow{
			{"follow_up_after_days", days(p.FollowUpAfterDays), "silence after your first email before the one follow-up is proposed"},
			{"business_days", yesNo(p.BusinessDays), "count only working days (Monday to Friday, holidays excluded)"},
			{"close_after_days", days(p.CloseAfterDays), "silence after the follow-up before the thread closes with no response"},
			{"resume_after_return_days", days(p.ResumeAfterReturnDays), "working days after an out-of-office return date before the thread resumes"},
			{"cooldown_days", days(p.CooldownDays), "after a thread closed without response, nothing is proposed to that person for this long"},
			{"daily_send_cap", fmt.Sprint(p.DailySendCap), "most follow-ups sent per account per day"},
			{"send_days", list(p.SendDays), "the days mail may go out, on the recipient's calendar"},
			{"send_start, send_end", p.SendStart + " to " + p.SendEnd, "the send window, on the recipient's clock"},
			{"holidays", list(p.Holidays), "days on which nothing is sent"},
			{"draft_expires_after_days", days(p.DraftExpiresAfterDays), "a draft nobody approved expires, and the thread closes"},
			{"follow_up_window_days", window, "how long after it fell due a follow-up may still be proposed; later, too late: the thread closes without one"},
		},
		Profile: []settingRow{
			{"name", s.cfg.Profile.Name, ""}, {"position", s.cfg.Profile.Position, ""},
			{"institution", s.cfg.Profile.Institution, ""}, {"country", s.cfg.Profile.Country, ""},
			{"signature", s.cfg.Profile.Signature, ""},
		}}
	s.render(w, r, sess, http.StatusOK, "settings", "Settings", v)
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
