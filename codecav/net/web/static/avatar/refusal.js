/**
 * AvatarRefused: why a package cannot be used, one line "<source>: [member <m>] <problem>; <fix>" (as
 * codecav.assets.errors.AvatarFormatError) with a stable `reason` key (the same keys as codecav's).
 */

/** Collapse whitespace so third-party text keeps the message on one line. */
export function oneLine(text) {
  return String(text).split(/\s+/).filter(Boolean).join(" ");
}

export class AvatarRefused extends Error {
  /** `message` is the whole line; `reason` codecav's key; `source`, `member` where. */
  constructor(message, reason, source, member) {
    super(oneLine(message));
    this.name = "AvatarRefused";
    this.reason = reason;
    this.source = source;
    this.member = member ?? null;
  }
}

/** Throw codecav's one-line refusal: `${source}: member ${member} ${problem}; ${fix}`. */
export function refuse(source, member, problem, fix, reason) {
  const where = member ? `member ${member} ` : "";
  throw new AvatarRefused(`${source}: ${where}${oneLine(problem)}; ${oneLine(fix)}`, reason, source, member);
}

/** Python's repr() of a short string, as codecav's messages quote names ('name', or "it's"). */
export function pyRepr(text) {
  const s = String(text);
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = "";
  for (const ch of s) {
    const code = ch.codePointAt(0);
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += "\\x" + code.toString(16).padStart(2, "0");
    else out += ch;
  }
  return quote + out + quote;
}

/** Python's format(x, "g"): 6 significant digits, exponent form below 1e-4 and from 1e6. */
export function pyG(x) {
  if (x === 0) return "0";
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  const [mantissa, exponent] = x.toExponential(5).split("e");
  const exp = Number(exponent);
  const trim = (s) => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
  if (exp < -4 || exp >= 6) return `${trim(mantissa)}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  return trim(x.toFixed(Math.max(0, 5 - exp)));
}
