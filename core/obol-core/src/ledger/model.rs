//! Ledger data: accounts, balances, entries, transactions, holds and the write commands.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{AccountId, MerchantId, TransactionId};
use crate::mode::Mode;
use crate::money::AssetCode;

/// Free-form string metadata, within Stripe's limits ([`crate::ledger::validate`]): at most 50
/// keys of 1 to 40 characters, values of at most 500. A map with those limits in its JSON
/// Schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// No metadata.
    pub fn new() -> Self {
        Metadata(BTreeMap::new())
    }
}

impl std::ops::Deref for Metadata {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

impl std::ops::DerefMut for Metadata {
    fn deref_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.0
    }
}

impl FromIterator<(String, String)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        Metadata(pairs.into_iter().collect())
    }
}

impl IntoIterator for Metadata {
    type Item = (String, String);
    type IntoIter = std::collections::btree_map::IntoIter<String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Metadata {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<BTreeMap<String, String>> for Metadata {
    fn from(map: BTreeMap<String, String>) -> Self {
        Metadata(map)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Metadata {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Metadata".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        use crate::ledger::validate::{
            MAX_METADATA_KEY_LEN, MAX_METADATA_KEYS, MAX_METADATA_VALUE_LEN,
        };
        schemars::json_schema!({
            "type": "object",
            "description": "Free-form labels: string keys and values.",
            "maxProperties": MAX_METADATA_KEYS,
            "propertyNames": { "minLength": 1, "maxLength": MAX_METADATA_KEY_LEN },
            "additionalProperties": { "type": "string", "maxLength": MAX_METADATA_VALUE_LEN },
        })
    }
}

/// The side of an entry, and an account's normal balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Debit side.
    Debit,
    /// Credit side.
    Credit,
}

impl Direction {
    /// The other side.
    pub fn opposite(self) -> Self {
        match self {
            Direction::Debit => Direction::Credit,
            Direction::Credit => Direction::Debit,
        }
    }

    /// The stored form: `"debit"` or `"credit"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Debit => "debit",
            Direction::Credit => "credit",
        }
    }

    /// Reads the stored form.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "debit" => Ok(Direction::Debit),
            "credit" => Ok(Direction::Credit),
            other => Err(Error::corrupt(format!("direction {other:?}"))),
        }
    }
}

/// Balance constraints of an account (TigerBeetle's flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AccountFlags {
    /// Posted plus pending debits may not exceed posted credits plus the limit
    /// (a customer wallet that may not go negative).
    pub debits_must_not_exceed_credits: bool,
    /// Posted plus pending credits may not exceed posted debits plus the limit.
    pub credits_must_not_exceed_debits: bool,
}

/// Who an account belongs to, which decides who may reach it. Stored and shown as text:
/// `host`, `system`, the merchant's id (its test-mode books, and every account from before
/// modes existed), or the merchant's id and `:live`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum AccountOwner {
    /// The program that embeds the engine: reachable through the engine's own ledger API,
    /// never through a tenant's.
    #[default]
    Host,
    /// The engine itself (provider clearing, fees, merchants' payment balances): no tenant
    /// creates, closes or posts to these; their ids lie in the reserved range
    /// ([`AccountId::reserved`]).
    System,
    /// A tenant in one mode: reachable by that merchant's principals in that mode (test and
    /// live keep separate books).
    Merchant(MerchantId, Mode),
}

impl AccountOwner {
    /// The stored text: `None` for the host, `system`, the merchant's id in test mode, or
    /// the id and `:live`.
    pub fn stored(&self) -> Option<String> {
        match self {
            AccountOwner::Host => None,
            AccountOwner::System => Some("system".into()),
            AccountOwner::Merchant(merchant, mode) => {
                Some(crate::mode::tenant_label(merchant, *mode))
            }
        }
    }

    /// Reads the stored text.
    pub fn from_stored(text: Option<&str>) -> Result<Self> {
        let owner = |text: &str| {
            let (merchant, mode) = match text.strip_suffix(":live") {
                Some(merchant) => (merchant, Mode::Live),
                None => (text, Mode::Test),
            };
            MerchantId::parse(merchant).map(|merchant| AccountOwner::Merchant(merchant, mode))
        };
        match text {
            None | Some("host") => Ok(AccountOwner::Host),
            Some("system") => Ok(AccountOwner::System),
            Some(text) => {
                owner(text).map_err(|_| Error::corrupt(format!("account owner {text:?}")))
            }
        }
    }
}

impl Serialize for AccountOwner {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.stored().as_deref().unwrap_or("host"))
    }
}

impl<'de> Deserialize<'de> for AccountOwner {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        AccountOwner::from_stored(Some(&text)).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for AccountOwner {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AccountOwner".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "host, system, or the owning merchant's id (test mode) or id and :live",
            "pattern": "^(host|system|mer_[0-7][0-9A-HJKMNP-TV-Z]{25}(:live)?)$",
        })
    }
}

/// What a caller asks for when opening an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct NewAccount {
    /// The id to use; reusing it with the same body returns the existing account.
    pub id: AccountId,
    /// The asset the account holds.
    pub asset: AssetCode,
    /// Whether the account normally carries a debit or a credit balance.
    pub normal_balance: Direction,
    /// Balance constraints.
    pub flags: AccountFlags,
    /// How far past zero a flagged side may go, in minor units (an overdraft); `0` by default.
    #[serde(with = "crate::money::NonNegativeMinorUnits")]
    pub limit: i128,
    /// Free-form metadata.
    pub metadata: Metadata,
    /// Who it belongs to (the host unless said).
    #[serde(default)]
    pub owner: AccountOwner,
}

impl NewAccount {
    /// An unconstrained account with a normal balance.
    pub fn new(id: AccountId, asset: AssetCode, normal_balance: Direction) -> Self {
        NewAccount {
            id,
            asset,
            normal_balance,
            flags: AccountFlags::default(),
            limit: 0,
            metadata: Metadata::new(),
            owner: AccountOwner::Host,
        }
    }

    /// Owned by `owner`.
    pub fn owned_by(mut self, owner: AccountOwner) -> Self {
        self.owner = owner;
        self
    }

    /// Adds the debits-must-not-exceed-credits constraint (no overdraft).
    pub fn no_overdraft(mut self) -> Self {
        self.flags.debits_must_not_exceed_credits = true;
        self
    }

    /// Sets the limit past zero for a flagged side.
    pub fn with_limit(mut self, limit: i128) -> Self {
        self.limit = limit;
        self
    }

    /// Adds one metadata pair.
    pub fn with_metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.insert(key.to_string(), value.to_string());
        self
    }
}

/// A ledger account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Account {
    /// Its id.
    pub id: AccountId,
    /// The asset it holds.
    pub asset: AssetCode,
    /// Its normal balance side.
    pub normal_balance: Direction,
    /// Balance constraints.
    pub flags: AccountFlags,
    /// How far past zero a flagged side may go.
    #[serde(with = "crate::money::MinorUnits")]
    pub limit: i128,
    /// Free-form metadata.
    pub metadata: Metadata,
    /// A closed account takes no new movements.
    pub closed: bool,
    /// Who it belongs to.
    #[serde(default)]
    pub owner: AccountOwner,
    /// When it was created.
    pub created_at: Timestamp,
}

impl Account {
    /// True when `new` describes this account (for idempotent creation).
    pub fn matches(&self, new: &NewAccount) -> bool {
        self.id == new.id
            && self.asset == new.asset
            && self.normal_balance == new.normal_balance
            && self.flags == new.flags
            && self.limit == new.limit
            && self.metadata == new.metadata
            && self.owner == new.owner
    }
}

/// Posted and pending totals of an account, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Balance {
    /// Sum of posted debits.
    #[serde(with = "crate::money::MinorUnits")]
    pub debits_posted: i128,
    /// Sum of posted credits.
    #[serde(with = "crate::money::MinorUnits")]
    pub credits_posted: i128,
    /// Sum of debits held by pending holds.
    #[serde(with = "crate::money::MinorUnits")]
    pub debits_pending: i128,
    /// Sum of credits held by pending holds.
    #[serde(with = "crate::money::MinorUnits")]
    pub credits_pending: i128,
}

impl Balance {
    /// The posted balance on the account's normal side.
    pub fn posted(&self, normal: Direction) -> i128 {
        match normal {
            Direction::Credit => self.credits_posted.saturating_sub(self.debits_posted),
            Direction::Debit => self.debits_posted.saturating_sub(self.credits_posted),
        }
    }

    /// What can be spent: the posted balance less pending movements away from the normal side.
    pub fn available(&self, normal: Direction) -> i128 {
        match normal {
            Direction::Credit => self.posted(normal).saturating_sub(self.debits_pending),
            Direction::Debit => self.posted(normal).saturating_sub(self.credits_pending),
        }
    }

    /// Field-by-field sum of two balances (for totals over many accounts).
    pub fn plus(&self, other: &Balance) -> Result<Balance> {
        let add = |x: i128, y: i128| x.checked_add(y).ok_or(Error::Overflow);
        Ok(Balance {
            debits_posted: add(self.debits_posted, other.debits_posted)?,
            credits_posted: add(self.credits_posted, other.credits_posted)?,
            debits_pending: add(self.debits_pending, other.debits_pending)?,
            credits_pending: add(self.credits_pending, other.credits_pending)?,
        })
    }

    /// Adds `amount` to one side, posted or pending.
    pub(crate) fn add(&mut self, side: Direction, pending: bool, amount: i128) -> Result<()> {
        let field = self.field(side, pending);
        *field = field.checked_add(amount).ok_or(Error::Overflow)?;
        Ok(())
    }

    /// Takes `amount` off one side, posted or pending.
    pub(crate) fn sub(&mut self, side: Direction, pending: bool, amount: i128) -> Result<()> {
        let field = self.field(side, pending);
        *field = field.checked_sub(amount).ok_or(Error::Overflow)?;
        Ok(())
    }

    fn field(&mut self, side: Direction, pending: bool) -> &mut i128 {
        match (side, pending) {
            (Direction::Debit, false) => &mut self.debits_posted,
            (Direction::Debit, true) => &mut self.debits_pending,
            (Direction::Credit, false) => &mut self.credits_posted,
            (Direction::Credit, true) => &mut self.credits_pending,
        }
    }
}

/// One leg of a transaction: an amount debited or credited to an account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Entry {
    /// The account.
    pub account: AccountId,
    /// Debit or credit.
    pub direction: Direction,
    /// Minor units, greater than zero.
    #[serde(with = "crate::money::PositiveMinorUnits")]
    pub amount: i128,
    /// The asset; must be the account's asset.
    pub asset: AssetCode,
}

impl Entry {
    /// A debit entry.
    pub fn debit(account: &AccountId, amount: i128, asset: &AssetCode) -> Self {
        Entry {
            account: account.clone(),
            direction: Direction::Debit,
            amount,
            asset: asset.clone(),
        }
    }

    /// A credit entry.
    pub fn credit(account: &AccountId, amount: i128, asset: &AssetCode) -> Self {
        Entry {
            account: account.clone(),
            direction: Direction::Credit,
            amount,
            asset: asset.clone(),
        }
    }

    /// The two entries of a simple transfer: debit `from`, credit `to`.
    pub fn transfer(
        from: &AccountId,
        to: &AccountId,
        amount: i128,
        asset: &AssetCode,
    ) -> [Self; 2] {
        [
            Entry::debit(from, amount, asset),
            Entry::credit(to, amount, asset),
        ]
    }
}

/// A transfer as a client asks for it (the JSON body of a ledger transaction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTransaction {
    /// The id and idempotency key; derived from `Idempotency-Key` or generated when absent.
    #[serde(default)]
    pub id: Option<TransactionId>,
    /// Entries that balance per asset (2 to 256).
    #[cfg_attr(feature = "schemars", schemars(length(min = 2, max = 256)))]
    pub entries: Vec<Entry>,
    /// When it counts (microseconds since the epoch); now when absent.
    #[serde(default)]
    pub effective_at: Option<Timestamp>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

/// Post entries to balances at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTransaction {
    /// Id and idempotency key.
    pub id: TransactionId,
    /// Entries that balance per asset.
    pub entries: Vec<Entry>,
    /// When the movement counts for point-in-time balances; defaults to now.
    pub effective_at: Option<Timestamp>,
    /// Free-form metadata.
    pub metadata: Metadata,
}

impl NewTransaction {
    /// A transaction from entries with no metadata.
    pub fn new(id: TransactionId, entries: Vec<Entry>) -> Self {
        NewTransaction {
            id,
            entries,
            effective_at: None,
            metadata: Metadata::new(),
        }
    }
}

/// Reserve entries as pending (two-phase), optionally until a timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewHold {
    /// Id of the hold and idempotency key.
    pub id: TransactionId,
    /// Entries that balance per asset.
    pub entries: Vec<Entry>,
    /// After this time the hold expires and its pending amounts are released.
    pub expires_at: Option<Timestamp>,
    /// Free-form metadata.
    pub metadata: Metadata,
}

/// How much of a hold to post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostAmount {
    /// Everything still held.
    Remaining,
    /// This amount, for a hold of one debit and one credit of the same amount.
    Amount(#[serde(with = "crate::money::PositiveMinorUnits")] i128),
    /// One amount per hold entry (zero allowed), balancing per asset.
    PerEntry(#[serde(with = "crate::money::MinorUnitsList")] Vec<i128>),
}

/// Post all or part of a pending hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostHold {
    /// Id of this post and idempotency key.
    pub id: TransactionId,
    /// The hold.
    pub hold_id: TransactionId,
    /// How much.
    pub amount: PostAmount,
    /// Release what stays held after this post and close the hold.
    pub release_remainder: bool,
    /// When the movement counts; defaults to now.
    pub effective_at: Option<Timestamp>,
    /// Free-form metadata.
    pub metadata: Metadata,
}

/// Release everything still held by a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidHold {
    /// Id of this void and idempotency key.
    pub id: TransactionId,
    /// The hold.
    pub hold_id: TransactionId,
    /// Free-form metadata.
    pub metadata: Metadata,
}

/// Release a hold past its timeout (issued by the expiry sweep).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireHold {
    /// Id of the expiry record.
    pub id: TransactionId,
    /// The hold.
    pub hold_id: TransactionId,
}

/// Undo a posted transaction with a new one that swaps every entry's side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reverse {
    /// Id of the reversal and idempotency key.
    pub id: TransactionId,
    /// The transaction to reverse.
    pub transaction_id: TransactionId,
    /// When the reversal counts; defaults to now.
    pub effective_at: Option<Timestamp>,
    /// Free-form metadata.
    pub metadata: Metadata,
}

/// A write request to the ledger; each one is applied once or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LedgerCommand {
    /// Post entries.
    Transfer(NewTransaction),
    /// Reserve entries.
    Hold(NewHold),
    /// Post a hold.
    PostHold(PostHold),
    /// Void a hold.
    VoidHold(VoidHold),
    /// Expire a hold.
    ExpireHold(ExpireHold),
    /// Reverse a transaction.
    Reverse(Reverse),
}

impl LedgerCommand {
    /// The id of the transaction this command makes (its idempotency key).
    pub fn id(&self) -> &TransactionId {
        match self {
            LedgerCommand::Transfer(c) => &c.id,
            LedgerCommand::Hold(c) => &c.id,
            LedgerCommand::PostHold(c) => &c.id,
            LedgerCommand::VoidHold(c) => &c.id,
            LedgerCommand::ExpireHold(c) => &c.id,
            LedgerCommand::Reverse(c) => &c.id,
        }
    }
}

/// What a transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    /// Entries posted directly.
    Posted,
    /// Entries reserved as pending.
    Hold,
    /// Part or all of a hold posted.
    PostHold,
    /// A hold released by request.
    VoidHold,
    /// A hold released by its timeout.
    Expiry,
    /// A posted transaction undone.
    Reversal,
}

impl TransactionKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::Posted => "posted",
            TransactionKind::Hold => "hold",
            TransactionKind::PostHold => "post_hold",
            TransactionKind::VoidHold => "void_hold",
            TransactionKind::Expiry => "expiry",
            TransactionKind::Reversal => "reversal",
        }
    }

    /// Reads the stored form.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "posted" => TransactionKind::Posted,
            "hold" => TransactionKind::Hold,
            "post_hold" => TransactionKind::PostHold,
            "void_hold" => TransactionKind::VoidHold,
            "expiry" => TransactionKind::Expiry,
            "reversal" => TransactionKind::Reversal,
            other => return Err(Error::corrupt(format!("transaction kind {other:?}"))),
        })
    }

    /// True when the entries moved posted balances (and so appear in account history).
    pub fn posts(self) -> bool {
        matches!(
            self,
            TransactionKind::Posted | TransactionKind::PostHold | TransactionKind::Reversal
        )
    }
}

/// A committed, immutable ledger transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Transaction {
    /// Its id.
    pub id: TransactionId,
    /// What it did.
    pub kind: TransactionKind,
    /// Its entries: posted, held, or (for void and expiry) released.
    pub entries: Vec<Entry>,
    /// The hold it posted, voided or expired, or the transaction it reversed.
    pub related: Option<TransactionId>,
    /// The reversal that undid it, if any.
    pub reversed_by: Option<TransactionId>,
    /// When it counts for point-in-time balances.
    pub effective_at: Timestamp,
    /// When it was committed.
    pub created_at: Timestamp,
    /// Free-form metadata.
    pub metadata: Metadata,
}

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Some amount still held.
    Pending,
    /// Closed by posts.
    Posted,
    /// Released by a void.
    Voided,
    /// Released by its timeout.
    Expired,
}

impl HoldStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Pending => "pending",
            HoldStatus::Posted => "posted",
            HoldStatus::Voided => "voided",
            HoldStatus::Expired => "expired",
        }
    }

    /// Reads the stored form.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "pending" => HoldStatus::Pending,
            "posted" => HoldStatus::Posted,
            "voided" => HoldStatus::Voided,
            "expired" => HoldStatus::Expired,
            other => return Err(Error::corrupt(format!("hold status {other:?}"))),
        })
    }
}

/// A two-phase reservation and how much of each entry has been posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Hold {
    /// The hold's transaction id.
    pub id: TransactionId,
    /// The entries as held.
    pub entries: Vec<Entry>,
    /// Posted so far, per entry.
    #[serde(with = "crate::money::MinorUnitsList")]
    pub posted: Vec<i128>,
    /// Where it stands.
    pub status: HoldStatus,
    /// Its timeout.
    pub expires_at: Option<Timestamp>,
    /// When it was made.
    pub created_at: Timestamp,
}

impl Hold {
    /// What is still held of entry `index` (zero once the hold is closed).
    pub fn remaining(&self, index: usize) -> i128 {
        if self.status != HoldStatus::Pending {
            return 0;
        }
        let held = self.entries.get(index).map_or(0, |e| e.amount);
        held - self.posted.get(index).copied().unwrap_or(0)
    }
}

/// One posted entry in an account's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct HistoryEntry {
    /// Position in the ledger's entry log (the pagination key).
    pub sequence: i64,
    /// The transaction that posted it.
    pub transaction_id: TransactionId,
    /// Debit or credit.
    pub direction: Direction,
    /// Minor units.
    #[serde(with = "crate::money::MinorUnits")]
    pub amount: i128,
    /// The asset.
    pub asset: AssetCode,
    /// When it counts.
    pub effective_at: Timestamp,
    /// When it was committed.
    pub created_at: Timestamp,
}

/// One page of a list and the cursor for the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schemars", schemars(rename = "PageOf{T}"))]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass this to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Totals over all accounts of one asset: used to check that debits equal credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetTotals {
    /// The asset.
    pub asset: AssetCode,
    /// The summed balance fields of every account of that asset.
    pub totals: Balance,
}
