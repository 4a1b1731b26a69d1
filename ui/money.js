// Amounts are strings of minor units; they are shown with their asset's decimals using
// BigInt arithmetic only (never floating point).

const SCALES = { JPY: 0, KRW: 0, BHD: 3, KWD: 3, BTC: 8, ETH: 18 };

export function scaleOf(asset) {
  return SCALES[asset] ?? 2;
}

export function formatMinor(minor, asset) {
  const scale = scaleOf(asset);
  let value = BigInt(minor);
  const negative = value < 0n;
  if (negative) value = -value;
  const digits = value.toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale ? '.' + digits.slice(digits.length - scale) : '';
  return `${negative ? '-' : ''}${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${fraction} ${asset}`;
}

// "12.34" in USD → "1234"; refuses more decimals than the asset has.
export function parseMajor(text, asset) {
  const scale = scaleOf(asset);
  const match = /^\s*(\d+)(?:\.(\d*))?\s*$/.exec(text);
  if (!match) throw new Error('enter an amount like 12.34');
  const fraction = match[2] ?? '';
  if (fraction.length > scale) throw new Error(`${asset} has ${scale} decimals`);
  const minor = BigInt(match[1]) * 10n ** BigInt(scale) + BigInt(fraction.padEnd(scale, '0') || '0');
  if (minor <= 0n) throw new Error('the amount must be above zero');
  return minor.toString();
}
