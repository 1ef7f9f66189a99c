//! The one rule for what scope a new or changed value of a SealedSecret may get, used by
//! every command that seals a value into a file or rewrites a file with values (`set`,
//! `unset`, `edit`, `reseal`, `migrate`).
//!
//! ```text
//!  SealedSecret as read ──ScopeRule::of──▶ each value's visible binding == what metadata
//!        │                                  and spec.scope now say for its key?
//!        │ no ──▶ ScopeError::Moved   (a merged change widened or moved the object)
//!        ▼ yes
//!  rule.binding(key)          the binding a new or changed value is sealed for
//!  rule.check(key, value)     a value written back (re-sealed, edited) has exactly it
//! ```
//!
//! `spec.scope` is text anyone with commit access can change; the values already in the
//! file say, in their scope stanza, where they were sealed for. A new value may take no
//! other binding than those, so a widened `spec.scope` never widens what is sealed.
//! Values sealed before format 2 carry no stanza and constrain nothing; neither does an
//! object without values (there is nothing to compare with).

use crate::binding::{Binding, BindingError};
use crate::seal::visible_binding;
use crate::{Scope, SealedSecret};

/// Why a value may not be sealed into, or written back to, a SealedSecret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// The object's metadata and `spec.scope` give no binding for this key.
    #[error("key {key:?}: {source}")]
    Unbindable {
        /// The data key.
        key: String,
        /// What the scope needs, or which naming rule is broken.
        #[source]
        source: BindingError,
    },
    /// A value is sealed for another place than the object now says.
    #[error("key {key:?}: {}", crate::verify::moved(.sealed_for, .object_says))]
    Moved {
        /// The data key of the value.
        key: String,
        /// Where the value's scope stanza says it was sealed for.
        sealed_for: Box<Binding>,
        /// Where the object's metadata and `spec.scope` now say it belongs.
        object_says: Box<Binding>,
    },
}

/// Where the values of one SealedSecret are sealed for: checked against the values it
/// holds, then used for every value sealed into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeRule {
    scope: Scope,
    namespace: Option<String>,
    name: Option<String>,
}

impl ScopeRule {
    /// The rule of `sealed` as read, before any change.
    ///
    /// # Errors
    /// [`ScopeError::Moved`] when a value already in it was sealed for another place than
    /// its metadata and `spec.scope` now say (a changed scope, name or namespace);
    /// [`ScopeError::Unbindable`] when they give no binding for one of its keys.
    pub fn of(sealed: &SealedSecret) -> Result<ScopeRule, ScopeError> {
        let meta = &sealed.metadata;
        let rule = ScopeRule { scope: sealed.spec.scope, namespace: meta.namespace.clone(), name: meta.name.clone() };
        for (key, value) in &sealed.spec.encrypted_data {
            rule.check(key, value)?;
        }
        Ok(rule)
    }

    /// The binding a new or changed value of `key` is sealed for.
    ///
    /// # Errors
    /// [`ScopeError::Unbindable`] when the object lacks a coordinate its scope binds or
    /// one breaks Kubernetes' naming rules.
    pub fn binding(&self, key: &str) -> Result<Binding, ScopeError> {
        Binding::new(self.scope, self.namespace.as_deref(), self.name.as_deref(), key)
            .map_err(|source| ScopeError::Unbindable { key: key.to_owned(), source })
    }

    /// Checks that the sealed `value` of `key` is sealed for [`ScopeRule::binding`], as far
    /// as its visible scope stanza tells (a value without one, from before format 2, or
    /// one that does not decode passes: it constrains nothing and the unsealer judges it).
    ///
    /// # Errors
    /// As [`ScopeRule::binding`]; [`ScopeError::Moved`] when the value is bound elsewhere.
    pub fn check(&self, key: &str, value: &str) -> Result<(), ScopeError> {
        let object_says = self.binding(key)?;
        match visible_binding(value) {
            Ok(Some(sealed_for)) if sealed_for != object_says => Err(ScopeError::Moved {
                key: key.to_owned(),
                sealed_for: Box::new(sealed_for),
                object_says: Box::new(object_says),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{PlainSecret, Recipients, generate_identity, seal_secret};

    fn sealed(scope: Scope) -> SealedSecret {
        let recipients = Recipients::new([generate_identity().to_public()]).unwrap();
        let mut secret = PlainSecret { namespace: Some("prod".into()), name: Some("db".into()), ..Default::default() };
        secret.data.insert("password".into(), b"v".to_vec().into());
        seal_secret(&secret, scope, None, &recipients, 1).unwrap()
    }

    #[test]
    fn a_widened_scope_gives_no_binding_for_new_values() {
        let mut object = sealed(Scope::Strict);
        assert_eq!(
            ScopeRule::of(&object).unwrap().binding("new").unwrap(),
            Binding::new(Scope::Strict, Some("prod"), Some("db"), "new").unwrap()
        );
        object.spec.scope = Scope::ClusterWide;
        let err = ScopeRule::of(&object).unwrap_err();
        assert!(
            matches!(&err, ScopeError::Moved { key, object_says, .. } if key == "password" && **object_says == Binding::ClusterWide)
        );
        assert!(err.to_string().starts_with("key \"password\": value is sealed for strict scope prod/db"), "{err}");
    }

    #[test]
    fn a_value_written_back_must_keep_the_binding() {
        let strict = sealed(Scope::Strict);
        let wide = sealed(Scope::NamespaceWide);
        let rule = ScopeRule::of(&strict).unwrap();
        assert!(rule.check("password", &strict.spec.encrypted_data["password"]).is_ok());
        let err = rule.check("password", &wide.spec.encrypted_data["password"]).unwrap_err();
        assert!(
            matches!(err, ScopeError::Moved { sealed_for, .. } if matches!(*sealed_for, Binding::NamespaceWide { .. }))
        );
    }

    #[test]
    fn an_object_without_values_is_its_own_rule() {
        let mut object = sealed(Scope::Strict);
        object.spec.encrypted_data.clear();
        object.metadata.namespace = None;
        let err = ScopeRule::of(&object).unwrap().binding("k").unwrap_err();
        assert_eq!(err.to_string(), "key \"k\": scope strict needs a namespace");
    }
}
