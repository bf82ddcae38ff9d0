//! `basic_auth_users` of the web config: bcrypt hashes, checked with caches so that Prometheus'
//! every-scrape credentials cost one bcrypt, and a flood of wrong ones neither starves nor
//! evicts them.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;

/// `basic_auth_users`: user → bcrypt hash, with caches of checked credentials.
///
/// bcrypt costs tens of milliseconds on purpose, and Prometheus sends the same credentials every
/// scrape, so results are cached (the toolkit does the same), by SHA-256 of user and password (no
/// password is kept). Credentials that passed are kept apart from those that failed: a flood of
/// wrong passwords (150 clients made a scrape take 15 s) evicts only older failures, one at a
/// time, and never a credential that passed. bcrypt runs on the blocking pool, one check at a
/// time, with at most [`BCRYPT_WAITING`] checks queued; past that an unknown credential is
/// refused at once instead of queueing behind the flood.
#[derive(Debug)]
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    passed: Mutex<HashSet<[u8; 32]>>,
    failed: Mutex<(VecDeque<Digest>, HashSet<Digest>)>,
    bcrypt: tokio::sync::Semaphore,
    waiting: AtomicUsize,
    /// bcrypt checks run so far (for tests and the log).
    verified: AtomicUsize,
}

/// Compared against when the user is unknown, so that answering takes as long as for a known user.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
/// Failed credentials remembered; the oldest is forgotten first.
const FAILED_LIMIT: usize = 1024;
/// Credentials that passed remembered (a handful of users, each with one password).
const PASSED_LIMIT: usize = 64;
/// bcrypt checks that may wait for the one running.
pub const BCRYPT_WAITING: usize = 8;

/// SHA-256 of user, NUL, password: a cache key that is not the password.
type Digest = [u8; 32];

fn digest(user: &str, pass: &str) -> Digest {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(user.as_bytes());
    h.update([0]);
    h.update(pass.as_bytes());
    h.finalize().into()
}

impl BasicAuth {
    /// Validates every hash.
    pub fn new(users: BTreeMap<String, String>) -> Result<Self, String> {
        for (user, hash) in &users {
            hash.parse::<bcrypt::HashParts>()
                .map_err(|e| format!("basic_auth_users.{user}: not a bcrypt hash: {e}"))?;
        }
        Ok(Self {
            users,
            passed: Mutex::new(HashSet::new()),
            failed: Mutex::new((VecDeque::new(), HashSet::new())),
            bcrypt: tokio::sync::Semaphore::new(1),
            waiting: AtomicUsize::new(0),
            verified: AtomicUsize::new(0),
        })
    }

    /// Whether `Authorization` header value `header` carries valid credentials.
    pub async fn check(&self, header: Option<&str>) -> bool {
        let Some((user, pass)) = header.and_then(decode_basic) else {
            return false;
        };
        let key = digest(&user, &pass);
        if let Some(ok) = self.cached(&key) {
            return ok;
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= BCRYPT_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        let permit = self.bcrypt.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let Ok(_permit) = permit else {
            return false;
        };
        // a check queued behind the same credentials may find them answered now
        if let Some(ok) = self.cached(&key) {
            return ok;
        }
        let known = self.users.get(&user);
        let hash = known.cloned().unwrap_or_else(|| DUMMY_HASH.to_owned());
        self.verified.fetch_add(1, Ordering::SeqCst);
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(pass, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false);
        let ok = known.is_some() && matches;
        self.remember(key, ok);
        ok
    }

    fn remember(&self, key: [u8; 32], ok: bool) {
        if ok {
            if let Ok(mut passed) = self.passed.lock() {
                if passed.len() >= PASSED_LIMIT
                    && let Some(&any) = passed.iter().next()
                {
                    passed.remove(&any);
                }
                passed.insert(key);
            }
        } else if let Ok(mut failed) = self.failed.lock() {
            let (order, set) = &mut *failed;
            if set.insert(key) {
                order.push_back(key);
            }
            while order.len() > FAILED_LIMIT {
                if let Some(old) = order.pop_front() {
                    set.remove(&old);
                }
            }
        }
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        if self.passed.lock().ok()?.contains(key) {
            return Some(true);
        }
        self.failed.lock().ok()?.1.contains(key).then_some(false)
    }
}

/// `Basic base64(user:password)` → (user, password).
fn decode_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn decodes_basic_credentials() {
        // "prometheus:pa:ss" — a colon in the password belongs to the password
        assert_eq!(
            decode_basic("Basic cHJvbWV0aGV1czpwYTpzcw=="),
            Some(("prometheus".into(), "pa:ss".into()))
        );
        assert_eq!(decode_basic("Bearer abc"), None);
        assert_eq!(decode_basic("Basic !!!"), None);
        assert_eq!(decode_basic("Basic"), None);
    }

    #[tokio::test]
    async fn checks_htpasswd_style_hashes_and_caches() {
        // `htpasswd -nbBC 4 "" secret`-style $2y$ hash, cost 4 to keep the test quick
        let hash = bcrypt::hash("secret", 4)
            .unwrap()
            .replacen("$2b$", "$2y$", 1);
        let auth = BasicAuth::new(BTreeMap::from([("prometheus".into(), hash)])).unwrap();
        let basic = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert!(auth.check(Some(&basic("prometheus", "secret"))).await);
        assert!(
            auth.check(Some(&basic("prometheus", "secret"))).await,
            "cached"
        );
        assert!(!auth.check(Some(&basic("prometheus", "wrong"))).await);
        assert!(!auth.check(Some(&basic("nobody", "secret"))).await);
        assert!(!auth.check(None).await);
        assert_eq!(auth.passed.lock().unwrap().len(), 1);
        assert_eq!(auth.failed.lock().unwrap().1.len(), 2);
        assert_eq!(
            auth.verified.load(Ordering::SeqCst),
            3,
            "the second check was cached"
        );
        // the dummy hash is a valid hash, or unknown users would be answered faster
        assert!(DUMMY_HASH.parse::<bcrypt::HashParts>().is_ok());
    }

    #[tokio::test]
    async fn a_flood_of_wrong_passwords_neither_evicts_nor_delays_a_good_one() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let auth = Arc::new(BasicAuth::new(BTreeMap::from([("prometheus".into(), hash)])).unwrap());
        let basic = |p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("prometheus:{p}"))
            )
        };
        assert!(auth.check(Some(&basic("secret"))).await);
        // more failures than the failure cache holds, one after another: all checked, the
        // oldest forgotten, the good one kept
        for i in 0..FAILED_LIMIT + 10 {
            let key = digest("prometheus", &format!("wrong{i}"));
            auth.remember(key, false);
        }
        assert_eq!(auth.failed.lock().unwrap().0.len(), FAILED_LIMIT);
        assert_eq!(auth.cached(&digest("prometheus", "wrong0")), None);
        assert_eq!(auth.cached(&digest("prometheus", "wrong1033")), Some(false));
        // 150 clients at once while a check holds bcrypt: BCRYPT_WAITING queue, the rest are
        // refused without bcrypt, and the good credentials are answered from the cache meanwhile
        let before = auth.verified.load(Ordering::SeqCst);
        let running = auth.bcrypt.acquire().await.unwrap();
        let mut flood = tokio::task::JoinSet::new();
        for i in 0..150 {
            let (auth, header) = (auth.clone(), basic(&format!("flood{i}")));
            flood.spawn(async move { auth.check(Some(&header)).await });
        }
        for _ in 0..150 - BCRYPT_WAITING {
            assert_eq!(flood.join_next().await.map(Result::unwrap), Some(false));
        }
        assert_eq!(auth.waiting.load(Ordering::SeqCst), BCRYPT_WAITING);
        assert!(auth.check(Some(&basic("secret"))).await);
        drop(running);
        let queued = flood.join_all().await;
        assert_eq!(queued, vec![false; BCRYPT_WAITING]);
        let ran = auth.verified.load(Ordering::SeqCst) - before;
        assert_eq!(ran, BCRYPT_WAITING);
    }
}
