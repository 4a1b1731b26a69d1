//! The set of assets the engine knows: ISO 4217, BTC, ETH and registered tokens.

use std::collections::HashMap;

use super::{Asset, AssetCode, CRYPTO, ISO_4217};
use crate::error::{Error, Result};

/// Assets by code. Built-ins are always present; custom assets are added with
/// [`AssetRegistry::register`] and must never change scale once known.
#[derive(Debug, Clone)]
pub struct AssetRegistry {
    assets: HashMap<AssetCode, Asset>,
}

impl AssetRegistry {
    /// A registry holding ISO 4217 currencies, BTC and ETH.
    pub fn with_builtins() -> Self {
        let assets = ISO_4217
            .iter()
            .chain(CRYPTO)
            .map(|(code, scale)| {
                let code = AssetCode(code.to_string());
                (
                    code.clone(),
                    Asset {
                        code,
                        scale: *scale,
                    },
                )
            })
            .collect();
        AssetRegistry { assets }
    }

    /// Looks an asset up by code.
    pub fn get(&self, code: &AssetCode) -> Result<Asset> {
        self.assets
            .get(code)
            .cloned()
            .ok_or_else(|| Error::UnknownAsset {
                asset: code.to_string(),
            })
    }

    /// Adds an asset; registering the same definition again is a no-op, a different scale for
    /// a known code is an error.
    pub fn register(&mut self, asset: Asset) -> Result<()> {
        match self.assets.get(&asset.code) {
            Some(known) if known.scale == asset.scale => Ok(()),
            Some(known) => Err(Error::InvalidAsset {
                reason: format!(
                    "{} is already defined with scale {}",
                    known.code, known.scale
                ),
            }),
            None => {
                self.assets.insert(asset.code.clone(), asset);
                Ok(())
            }
        }
    }

    /// True when the code is a built-in asset (not stored by the ledger).
    pub fn is_builtin(code: &AssetCode) -> bool {
        ISO_4217
            .iter()
            .chain(CRYPTO)
            .any(|(c, _)| *c == code.as_str())
    }
}
