package verdict

import (
	"math"
	"strconv"
	"time"
)

// formatValue prints a measured value compactly: 0.4912, 503, +Inf.
func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// formatTime prints a sample's time for one-line messages.
func formatTime(t time.Time) string { return t.UTC().Format("15:04:05Z") }
