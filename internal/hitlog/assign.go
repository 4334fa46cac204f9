package hitlog

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// assign stores a value from either driver (Go numbers, strings and times
// from clickhouse-go; strings and json.Number from chDB's JSON output, where
// 64-bit integers arrive quoted) into dest.
func assign(dest, v any) error {
	switch d := dest.(type) {
	case *string:
		switch x := v.(type) {
		case string:
			*d = x
		case json.Number:
			*d = x.String()
		case time.Time:
			*d = x.UTC().Format(time.DateTime)
		default:
			*d = fmt.Sprint(x)
		}
		return nil
	case *time.Time:
		switch x := v.(type) {
		case time.Time:
			*d = x.UTC()
			return nil
		case string:
			t, err := time.ParseInLocation(time.DateTime, x, time.UTC)
			if err != nil {
				return fmt.Errorf("time %q: %w", x, err)
			}
			*d = t
			return nil
		}
		n, err := toInt(v)
		if err != nil {
			return err
		}
		*d = time.Unix(n, 0).UTC()
		return nil
	case *float64:
		f, err := toFloat(v)
		*d = f
		return err
	case *bool:
		n, err := toInt(v)
		*d = n != 0
		return err
	case *uint64:
		// Batch ids use all 64 bits.
		n, err := toUint(v)
		*d = n
		return err
	}
	n, err := toInt(v)
	if err != nil {
		return err
	}
	switch d := dest.(type) {
	case *int:
		*d = int(n)
	case *int64:
		*d = n
	case *uint32:
		if n < 0 || n > math.MaxUint32 {
			return fmt.Errorf("%d out of range for uint32", n)
		}
		*d = uint32(n)
	case *uint16:
		if n < 0 || n > math.MaxUint16 {
			return fmt.Errorf("%d out of range for uint16", n)
		}
		*d = uint16(n)
	case *uint8:
		if n < 0 || n > math.MaxUint8 {
			return fmt.Errorf("%d out of range for uint8", n)
		}
		*d = uint8(n)
	default:
		return fmt.Errorf("cannot scan into %T", dest)
	}
	return nil
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d too large", x)
		}
		return int64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case json.Number:
		return strconv.ParseInt(x.String(), 10, 64)
	case string:
		return strconv.ParseInt(x, 10, 64)
	case time.Time:
		return x.Unix(), nil
	}
	return 0, fmt.Errorf("cannot read %T as an integer", v)
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	case json.Number:
		return x.Float64()
	case string:
		return strconv.ParseFloat(x, 64)
	}
	n, err := toInt(v)
	return float64(n), err
}

func toUint(v any) (uint64, error) {
	switch x := v.(type) {
	case uint64:
		return x, nil
	case json.Number:
		return strconv.ParseUint(x.String(), 10, 64)
	case string:
		return strconv.ParseUint(x, 10, 64)
	}
	n, err := toInt(v)
	if err == nil && n < 0 {
		return 0, fmt.Errorf("negative %d into uint64", n)
	}
	return uint64(n), err
}
