//! The signing time: parsing `X-Amz-Date` and `Date`, and the 15-minute skew window.

use berth_types::Timestamp;
use http::HeaderMap;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::error::AuthError;

/// Largest difference between the signing time and the server's clock that is accepted,
/// 15 minutes as in AWS.
pub const MAX_CLOCK_SKEW_MILLIS: i64 = 15 * 60 * 1000;

/// ISO 8601 basic format, `20150830T123600Z`, used by `X-Amz-Date` and the string to sign.
const AMZ_DATE: &[BorrowedFormatItem<'_>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// IMF-fixdate from RFC 9110, `Sun, 30 Aug 2015 12:36:00 GMT`, used by `Date`.
const HTTP_DATE: &[BorrowedFormatItem<'_>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// When a request was signed, and the header that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SigningTime {
    pub(crate) at: Timestamp,
    /// The time in ISO 8601 basic format, as it goes into the string to sign.
    pub(crate) amz_date: String,
    /// `x-amz-date` or `date`, which must then be a signed header.
    pub(crate) header_name: &'static str,
}

/// Reads the signing time from `X-Amz-Date`, or from `Date` when that is absent.
pub(crate) fn signing_time_from_headers(headers: &HeaderMap) -> Result<SigningTime, AuthError> {
    if let Some(value) = headers.get("x-amz-date") {
        let text = value.to_str().unwrap_or_default();
        let at = parse_amz_date(text).ok_or_else(|| invalid_amz_date("X-Amz-Date", text))?;
        return Ok(SigningTime {
            at,
            amz_date: format_amz_date(at),
            header_name: "x-amz-date",
        });
    }
    let Some(value) = headers.get(http::header::DATE) else {
        return Err(AuthError::incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
             header. Add X-Amz-Date with the signing time.",
        ));
    };
    let text = value.to_str().unwrap_or_default();
    let at = parse_http_date(text).ok_or_else(|| {
        AuthError::incomplete(format!(
            "Date header '{text}' is not an HTTP date such as 'Sun, 30 Aug 2015 12:36:00 GMT'. \
             Send X-Amz-Date in the form yyyymmddTHHMMSSZ instead."
        ))
    })?;
    Ok(SigningTime {
        at,
        amz_date: format_amz_date(at),
        header_name: "date",
    })
}

/// Reads the signing time from the `X-Amz-Date` query parameter of a presigned URL.
pub(crate) fn signing_time_from_query(text: &str) -> Result<SigningTime, AuthError> {
    let at = parse_amz_date(text).ok_or_else(|| invalid_amz_date("X-Amz-Date", text))?;
    Ok(SigningTime {
        at,
        amz_date: format_amz_date(at),
        header_name: "x-amz-date",
    })
}

fn invalid_amz_date(name: &str, text: &str) -> AuthError {
    AuthError::incomplete(format!(
        "{name} '{text}' is not a date in the form yyyymmddTHHMMSSZ, such as 20150830T123600Z."
    ))
}

/// Rejects a signing time more than 15 minutes before `now`.
pub(crate) fn check_not_expired(signed: &SigningTime, now: Timestamp) -> Result<(), AuthError> {
    let earliest = now.plus_millis(-MAX_CLOCK_SKEW_MILLIS);
    if signed.at >= earliest {
        return Ok(());
    }
    Err(AuthError::SignatureExpired {
        signed_at: signed.amz_date.clone(),
        earliest: format_amz_date(earliest),
        server_time: format_amz_date(now),
    })
}

/// Rejects a signing time more than 15 minutes after `now`.
pub(crate) fn check_not_future(signed: &SigningTime, now: Timestamp) -> Result<(), AuthError> {
    let latest = now.plus_millis(MAX_CLOCK_SKEW_MILLIS);
    if signed.at <= latest {
        return Ok(());
    }
    Err(AuthError::SignatureNotYetCurrent {
        signed_at: signed.amz_date.clone(),
        latest: format_amz_date(latest),
        server_time: format_amz_date(now),
    })
}

/// Formats a time as `yyyymmddTHHMMSSZ` in UTC, dropping the milliseconds.
pub(crate) fn format_amz_date(at: Timestamp) -> String {
    let seconds = at.as_millis().div_euclid(1000);
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(AMZ_DATE).ok())
        .unwrap_or_else(|| format!("@{seconds}"))
}

pub(crate) fn parse_amz_date(text: &str) -> Option<Timestamp> {
    if text.len() != "20150830T123600Z".len() {
        return None;
    }
    let parsed = PrimitiveDateTime::parse(text, AMZ_DATE).ok()?;
    Some(to_timestamp(parsed))
}

fn parse_http_date(text: &str) -> Option<Timestamp> {
    let parsed = PrimitiveDateTime::parse(text, HTTP_DATE).ok()?;
    Some(to_timestamp(parsed))
}

fn to_timestamp(parsed: PrimitiveDateTime) -> Timestamp {
    Timestamp::from_millis(parsed.assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use berth_types::Timestamp;
    use http::HeaderMap;

    use super::{
        check_not_expired, check_not_future, format_amz_date, parse_amz_date,
        signing_time_from_headers, signing_time_from_query, MAX_CLOCK_SKEW_MILLIS,
    };

    /// 2015-08-30T12:36:00Z, the time of the AWS SigV4 test suite.
    const SUITE_TIME: Timestamp = Timestamp(1_440_938_160_000);

    #[test]
    fn amz_date_round_trips() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(SUITE_TIME));
        assert_eq!(
            format_amz_date(SUITE_TIME.plus_millis(999)),
            "20150830T123600Z"
        );
    }

    #[test]
    fn amz_date_rejects_other_forms() {
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
        assert_eq!(parse_amz_date("20150830T123600"), None);
        assert_eq!(parse_amz_date("20151330T123600Z"), None);
    }

    #[test]
    fn date_header_is_used_without_x_amz_date() {
        let mut headers = HeaderMap::new();
        headers.insert("date", "Sun, 30 Aug 2015 12:36:00 GMT".parse().unwrap());
        let signed = signing_time_from_headers(&headers).unwrap();
        assert_eq!(signed.at, SUITE_TIME);
        assert_eq!(signed.amz_date, "20150830T123600Z");
        assert_eq!(signed.header_name, "date");
    }

    #[test]
    fn missing_date_headers_are_incomplete() {
        let err = signing_time_from_headers(&HeaderMap::new()).unwrap_err();
        assert_eq!(err.aws_code(), "IncompleteSignature");
        assert!(
            err.to_string().contains("'X-Amz-Date' or a 'Date'"),
            "{err}"
        );
    }

    #[test]
    fn skew_window_is_inclusive_at_fifteen_minutes() {
        let signed = signing_time_from_query("20150830T123600Z").unwrap();
        let edge = SUITE_TIME.plus_millis(MAX_CLOCK_SKEW_MILLIS);
        assert_eq!(check_not_expired(&signed, edge), Ok(()));
        assert_eq!(
            check_not_future(&signed, SUITE_TIME.plus_millis(-MAX_CLOCK_SKEW_MILLIS)),
            Ok(())
        );
        let late = check_not_expired(&signed, edge.plus_millis(1000)).unwrap_err();
        assert_eq!(
            late.to_string(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z \
             (20150830T125101Z - 15 min.) Check that the clock of the client machine is correct."
        );
    }
}
