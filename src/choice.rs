//! Settings that take one of a few words (`model=lenet`, `reward=acr`, ...): an enum per
//! setting, declared with [`choice_enum!`], whose URL words are the single source of the
//! schema's choices, the parser, `Display` and the serde form.

use crate::error::Error;

/// An enum whose values are spelled as fixed URL words.
pub(crate) trait Choice: Copy + Sized + 'static {
    /// Every value, in schema order.
    const ALL: &'static [Self];
    /// The URL word of each value of [`Choice::ALL`], in the same order: the schema's choices.
    const WORDS: &'static [&'static str];

    /// This value's URL word.
    fn word(self) -> &'static str;

    /// The value spelled exactly `word`.
    fn from_word(word: &str) -> Option<Self> {
        Self::WORDS
            .iter()
            .position(|w| *w == word)
            .map(|i| Self::ALL[i])
    }

    /// Parse a setting's text (surrounding blanks ignored); an error names `key`, the text
    /// and the words allowed.
    #[cfg(test)]
    fn parse(key: &str, raw: &str) -> crate::error::Result<Self> {
        Self::from_word(raw.trim()).ok_or_else(|| unknown(key, raw, Self::WORDS))
    }
}

/// What a choice setting allows, as every error message says it.
pub(crate) fn allowed(words: &[&str]) -> String {
    format!("one of {}", words.join(", "))
}

/// The error for a word that is not one of `words`.
pub(crate) fn unknown(key: &str, raw: &str, words: &[&str]) -> Error {
    Error::invalid(key, raw, "not a known choice", allowed(words))
}

/// Declares a `Copy` enum whose variants are spelled as the given URL words, with
/// [`Choice`], `Display` (the word) and serde `Serialize` / `Deserialize` (the word as a
/// string):
///
/// ```ignore
/// choice_enum! {
///     /// Which data.
///     pub enum DatasetName { Mnist = "mnist", Synth = "synth" }
/// }
/// ```
macro_rules! choice_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        // the page's type: a union of the words (serde(rename) only feeds tsify's declaration;
        // the serde impls below are hand-written)
        #[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
        $vis enum $name {
            $($(#[$vmeta])* #[cfg_attr(target_arch = "wasm32", serde(rename = $word))] $variant),+
        }

        impl $crate::choice::Choice for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            const WORDS: &'static [&'static str] = &[$($word),+];

            fn word(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::choice::Choice::word(*self))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str($crate::choice::Choice::word(*self))
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let w = <::std::string::String as ::serde::Deserialize>::deserialize(d)?;
                <$name as $crate::choice::Choice>::from_word(&w).ok_or_else(|| {
                    <D::Error as ::serde::de::Error>::unknown_variant(
                        &w,
                        <$name as $crate::choice::Choice>::WORDS,
                    )
                })
            }
        }
    };
}
pub(crate) use choice_enum;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every value's word parses back to it (also with blanks), prints as itself, serialises
    /// as the JSON string of the word and deserialises back; the words are distinct.
    pub(crate) fn check_round_trip<T>()
    where
        T: Choice + PartialEq + std::fmt::Debug + std::fmt::Display,
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        assert_eq!(T::ALL.len(), T::WORDS.len());
        for (&v, &w) in T::ALL.iter().zip(T::WORDS) {
            assert_eq!(v.word(), w);
            assert_eq!(v.to_string(), w);
            assert_eq!(T::parse("k", &format!(" {w} ")).unwrap(), v);
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{w}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), v);
            assert_eq!(T::WORDS.iter().filter(|x| **x == w).count(), 1, "{w}");
        }
        let e = T::parse("k", "xyzzy").unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "k=xyzzy: not a known choice; allowed: one of {}",
                T::WORDS.join(", ")
            )
        );
        assert!(serde_json::from_str::<T>("\"xyzzy\"").is_err());
    }
}
