//! The ledger accounts payments move through, and the ledger commands a change implies.
//!
//! They are system accounts: owned by the engine ([`AccountOwner::System`]) and named in the
//! reserved id range ([`AccountId::reserved`]), so no tenant can create one first, post to one
//! or close one through its ledger API. Each mode has its own: test payments never move a
//! merchant's live balance.
//!
//! Databases from before system accounts had owners named them by a plain hash of the same
//! names without the mode (all of them test, the sandbox being the only rail). Such an account
//! is adopted for test mode when the upgrade marked it as the system's and it has exactly the
//! shape the engine gave it; otherwise the reserved one is opened.

use super::*;
use crate::ledger::model::{Account, AccountOwner, Metadata};
use crate::mode::Mode;

/// The three accounts of a merchant's payments in one asset and mode, by role.
const ROLES: [(&str, Direction); 3] = [
    ("provider_clearing", Direction::Debit),
    ("merchant", Direction::Credit),
    ("fees", Direction::Debit),
];

impl Payments {
    /// The ledger accounts a merchant's payments in `asset` and `mode` move through: the
    /// merchant's own balance, and the platform's provider clearing and fees accounts (opened
    /// on first use, with ids named by their role so every engine instance finds the same
    /// ones).
    pub async fn accounts(
        &self,
        merchant: &MerchantId,
        mode: Mode,
        asset: &AssetCode,
    ) -> Result<PaymentAccounts> {
        let key = (merchant.clone(), mode, asset.clone());
        if let Some(found) = self.cached_accounts()?.get(&key) {
            return Ok(found.clone());
        }
        let mut opened = Vec::with_capacity(ROLES.len());
        for (role, normal) in ROLES {
            let name = AccountName {
                role,
                merchant,
                mode,
                asset,
            };
            let id = match self.legacy_account(&name, normal).await? {
                Some(legacy) => legacy,
                None => {
                    let new = NewAccount::new(name.id(), asset.clone(), normal)
                        .owned_by(AccountOwner::System);
                    let new = NewAccount {
                        metadata: name.metadata(),
                        ..new
                    };
                    self.ledger.create_account(new).await?.id
                }
            };
            opened.push(id);
        }
        let [provider_clearing, merchant, fees]: [AccountId; 3] = opened
            .try_into()
            .map_err(|_| Error::corrupt("payment accounts: wrong number of roles"))?;
        let accounts = PaymentAccounts {
            asset: asset.clone(),
            provider_clearing,
            merchant,
            fees,
        };
        self.cached_accounts()?.insert(key, accounts.clone());
        Ok(accounts)
    }

    /// The id of a merchant's balance account in `asset` and `mode` (it exists once the
    /// merchant was first paid there). Reading opens nothing.
    pub async fn merchant_account_id(
        &self,
        merchant: &MerchantId,
        mode: Mode,
        asset: &AssetCode,
    ) -> Result<AccountId> {
        let name = AccountName {
            role: "merchant",
            merchant,
            mode,
            asset,
        };
        Ok(match self.legacy_account(&name, Direction::Credit).await? {
            Some(legacy) => legacy,
            None => name.id(),
        })
    }

    /// The account an older database holds for `name`, when it may be adopted (see the
    /// module's documentation).
    async fn legacy_account(
        &self,
        name: &AccountName<'_>,
        normal: Direction,
    ) -> Result<Option<AccountId>> {
        if name.mode != Mode::Test {
            return Ok(None);
        }
        let id = name.legacy_id();
        let found = match self.ledger.account(&id).await {
            Ok(account) => account,
            Err(Error::AccountNotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let adoptable = found.owner == AccountOwner::System
            && found.asset == *name.asset
            && found.normal_balance == normal
            && found.flags == Default::default()
            && found.limit == 0
            && found.metadata == name.legacy_metadata();
        Ok(adoptable.then_some(id))
    }

    fn cached_accounts(&self) -> Result<std::sync::MutexGuard<'_, AccountCache>> {
        self.accounts
            .lock()
            .map_err(|_| Error::unavailable("payment accounts lock poisoned"))
    }

    /// The ledger commands for effects on the hold `hold_id`.
    pub(super) async fn commands(
        &self,
        payment: &Payment,
        hold_id: &TransactionId,
        effects: &[LedgerEffect],
    ) -> Result<Vec<LedgerCommand>> {
        let accounts = self
            .accounts(&payment.merchant, payment.mode, &payment.asset)
            .await?;
        let ids = self.ledger.ids().clone();
        Ok(ledger_commands(&accounts, hold_id, effects, || {
            TransactionId::generate(ids.as_ref())
        }))
    }
}

/// Payment accounts opened so far, by merchant, mode and asset.
pub(super) type AccountCache = HashMap<(MerchantId, Mode, AssetCode), PaymentAccounts>;

/// What names one system account: its role, and for whom, in which mode and asset.
struct AccountName<'a> {
    role: &'static str,
    merchant: &'a MerchantId,
    mode: Mode,
    asset: &'a AssetCode,
}

impl AccountName<'_> {
    /// Its id, in the reserved range. The platform's accounts are shared by all merchants;
    /// a merchant's balance is its own.
    fn id(&self) -> AccountId {
        let (role, mode, asset) = (self.role, self.mode, self.asset);
        AccountId::reserved(&match role {
            "merchant" => format!("obol:payments:merchant:{}:{mode}:{asset}", self.merchant),
            _ => format!("obol:payments:{role}:{mode}:{asset}"),
        })
    }

    pub(super) fn metadata(&self) -> Metadata {
        let mut metadata = self.legacy_metadata();
        metadata.insert("mode".into(), self.mode.as_str().into());
        metadata
    }

    /// The id an older database gave it.
    fn legacy_id(&self) -> AccountId {
        let (role, asset) = (self.role, self.asset);
        AccountId::derived(&match role {
            "merchant" => format!("obol:payments:merchant:{}:{asset}", self.merchant),
            _ => format!("obol:payments:{role}:{asset}"),
        })
    }

    /// The metadata an older database gave it.
    fn legacy_metadata(&self) -> Metadata {
        let mut metadata = Metadata::new();
        metadata.insert("role".into(), self.role.into());
        if self.role == "merchant" {
            metadata.insert("merchant".into(), self.merchant.to_string());
        }
        metadata
    }
}

/// Whether `account` is `merchant`'s payment balance in `mode`: the engine names a balance's
/// role, merchant and mode in its metadata (older ones carry no mode: test), and only the
/// engine writes a system account's metadata.
pub(crate) fn is_merchant_balance(account: &Account, merchant: &MerchantId, mode: Mode) -> bool {
    let field = |name: &str| account.metadata.get(name).map(String::as_str);
    account.owner == AccountOwner::System
        && field("role") == Some("merchant")
        && field("merchant") == Some(merchant.as_str())
        && field("mode").unwrap_or(Mode::Test.as_str()) == mode.as_str()
}
