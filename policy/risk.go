package policy

import "time"

// RiskWeights are the weights of the risk signals, in points of a 0-100
// score; they live here and nowhere else. A signal contributes its weight
// times its strength (0..1).
var RiskWeights = map[string]int{
	// velocity: payments in the last hour against the key's own hourly average.
	"velocity": 25,
	// new_recipient: the payment goes to a recipient this key never paid.
	"new_recipient": 15,
	// unusual_amount: the amount is far above the key's average payment.
	"unusual_amount": 25,
	// limit_used: the share of the key's max_amount already spent or held.
	"limit_used": 15,
	// recent_refusals: payments refused in the last hour (probing the limits).
	"recent_refusals": 20,
}

// RiskFactor is one named signal behind a risk score.
type RiskFactor struct {
	Name     string  `json:"name"`
	Weight   int     `json:"weight"`
	Strength float64 `json:"strength"` // 0..1, how strongly the signal is present
	Points   int     `json:"points"`   // its contribution to the score
	Detail   string  `json:"detail"`
}

// Risk is a risk score (0-100) with its factors.
type Risk struct {
	Score   int          `json:"risk_score"`
	Factors []RiskFactor `json:"risk_factors"`
}

// RiskInput describes the payment being scored; zero for the key at rest.
type RiskInput struct {
	Amount       Amount
	NewRecipient bool
	Now          time.Time
}

// KeyRisk scores a session key (and, when in.Amount is set, a payment from it)
// from the key's own history. It is a pure function of its inputs.
func KeyRisk(k *SessionKey, in RiskInput) Risk {
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	var fs []RiskFactor
	add := func(name string, strength float64, detail string) {
		if strength <= 0 {
			return
		}
		strength = min(strength, 1)
		w := RiskWeights[name]
		fs = append(fs, RiskFactor{Name: name, Weight: w, Strength: round2(strength), Points: int(float64(w)*strength + 0.5), Detail: detail})
	}
	// velocity
	if k.PaymentsLastHour >= 3 && !k.ActivatedAt.IsZero() {
		hours := max(now.Sub(k.ActivatedAt).Hours(), 1)
		avg := float64(k.TransactionCount) / hours
		if ratio := float64(k.PaymentsLastHour) / max(avg, 0.5); ratio > 2 {
			add("velocity", (ratio-2)/8, "payments in the last hour are well above this key's hourly average")
		}
	}
	if in.Amount > 0 && in.NewRecipient && k.TransactionCount > 0 {
		add("new_recipient", 1, "this key never paid this recipient")
	}
	if in.Amount > 0 && k.TransactionCount >= 3 {
		avg := float64(k.Spent) / float64(k.TransactionCount)
		if r := float64(in.Amount) / max(avg, 1); r > 3 {
			add("unusual_amount", (r-3)/7, "the amount is far above this key's average payment")
		}
	}
	if k.MaxAmount > 0 {
		share := float64(k.Spent+k.Reserved) / float64(k.MaxAmount)
		if share > 0.5 {
			add("limit_used", (share-0.5)*2, "most of the key's amount is already spent")
		}
	}
	if k.RefusalsLastHour > 0 {
		add("recent_refusals", float64(k.RefusalsLastHour)/5, "payments were refused in the last hour")
	}
	score := 0
	for _, f := range fs {
		score += f.Points
	}
	if fs == nil {
		fs = []RiskFactor{}
	}
	return Risk{Score: min(score, 100), Factors: fs}
}

func round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }
