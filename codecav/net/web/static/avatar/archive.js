/**
 * Reading a .cavatar zip's members under size limits, as codecav.assets.archive does for a zip: declared sizes,
 * member count, paths, duplicates and encryption are checked from the central directory before anything is
 * inflated, and inflating stops one byte past the declared size (zip-bomb guard). Messages equal codecav's.
 */

import { pyRepr, refuse } from "./refusal.js";

const MiB = 1024 * 1024;

/** codecav.assets.archive.PackageLimits defaults. */
export const PACKAGE_LIMITS = Object.freeze({ maxTotalBytes: 64 * MiB, maxMemberBytes: 48 * MiB, maxMembers: 64 });

const ZIP_OVERHEAD_BYTES = 1 * MiB;
const FIX_AGAIN = "download or copy the .cavatar again";
const FIX_LIMIT = "use a smaller avatar or raise the limit (max_total_bytes/max_member_bytes)";

/** A damaged zip; the message is what Python's zipfile would say. */
export class BadZip extends Error {}

/** Why `name` cannot be a member path, or null (codecav.assets.archive.unsafe_path_reason). */
export function unsafePathReason(name) {
  if (!name) return "has an empty path";
  if (name.includes("\\") || name.includes("\0")) return "contains a backslash or NUL";
  if (name.startsWith("/")) return "is an absolute path";
  const first = name.split("/").filter((p) => p !== "" && p !== ".")[0] ?? "";
  if (first.includes(":")) return "names a drive";
  if (name.split("/").some((p) => p === ".." || p === ".")) return "contains '..' or '.'";
  return null;
}

function tooLarge(source, member, size, limit, what) {
  refuse(source, member, `${what} is ${size} bytes, over the limit of ${limit} bytes`, FIX_LIMIT, "package_too_large");
}

const CP437_HIGH = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";

function decodeName(bytes, utf8) {
  if (utf8) return new TextDecoder("utf-8").decode(bytes);
  let s = "";
  for (const b of bytes) s += b < 128 ? String.fromCharCode(b) : CP437_HIGH[b - 128];
  return s;
}

/** The end-of-central-directory record, as Python's zipfile finds it. */
function endRecord(view) {
  const size = view.byteLength;
  if (size < 22) throw new BadZip("File is not a zip file");
  // Without a comment first, then backwards through a possible comment (at most 64 KiB).
  const lowest = Math.max(0, size - 22 - 65535);
  for (let at = size - 22; at >= lowest; at--) {
    if (view.getUint32(at, true) === 0x06054b50) {
      const commentLength = view.getUint16(at + 20, true);
      if (at === size - 22 || at + 22 + commentLength <= size) {
        return { at, entries: view.getUint16(at + 10, true), cdSize: view.getUint32(at + 12, true),
          cdOffset: view.getUint32(at + 16, true) };
      }
    }
  }
  throw new BadZip("File is not a zip file");
}

export function centralDirectory(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = endRecord(view);
  const concat = end.at - end.cdSize - end.cdOffset;  // bytes prepended to the archive
  if (concat < 0) throw new BadZip("Bad offset for central directory");
  const infos = [];
  let pos = end.at - end.cdSize;
  const stop = end.at;
  while (pos < stop) {
    if (pos + 46 > stop) throw new BadZip("Truncated central directory");
    if (view.getUint32(pos, true) !== 0x02014b50) throw new BadZip("Bad magic number for central directory");
    const flags = view.getUint16(pos + 8, true);
    const nameLength = view.getUint16(pos + 28, true);
    const extraLength = view.getUint16(pos + 30, true);
    const commentLength = view.getUint16(pos + 32, true);
    if (pos + 46 + nameLength > bytes.length) throw new BadZip("Truncated central directory");
    let filename = decodeName(bytes.subarray(pos + 46, pos + 46 + nameLength), (flags & 0x800) !== 0);
    const nul = filename.indexOf("\0");
    if (nul >= 0) filename = filename.slice(0, nul);
    infos.push({
      filename, flags,
      method: view.getUint16(pos + 10, true),
      crc: view.getUint32(pos + 16, true),
      compressSize: view.getUint32(pos + 20, true),
      fileSize: view.getUint32(pos + 24, true),
      externalAttr: view.getUint32(pos + 38, true),
      headerOffset: view.getUint32(pos + 42, true) + concat,
    });
    pos += 46 + nameLength + extraLength + commentLength;
  }
  return { infos, view };
}

function checkSizes(source, sizes, limits) {
  if (sizes.size > limits.maxMembers) {
    refuse(source, null, `has more than ${limits.maxMembers} files`, "remove the files that are not avatar members",
      "package_too_large");
  }
  const [name, size] = Array.from(sizes).at(-1);
  if (size > limits.maxMemberBytes) tooLarge(source, name, size, limits.maxMemberBytes, "size");
  let total = 0;
  for (const s of sizes.values()) total += s;
  if (total > limits.maxTotalBytes) tooLarge(source, null, total, limits.maxTotalBytes, "total member size");
}

function checkedInfos(infos, source, limits) {
  const sizes = new Map();
  const files = [];
  for (const info of infos) {
    const name = info.filename;
    const isDir = name.endsWith("/");
    const reason = unsafePathReason(isDir ? name.replace(/\/+$/, "") : name);
    if (reason) {
      refuse(source, pyRepr(name.slice(0, 80)), reason, "re-create the .cavatar with relative member paths (write_avatar)",
        "unsafe_path");
    }
    if (((info.externalAttr >>> 16) & 0o170000) === 0o120000) {
      refuse(source, name, "is a symbolic link", "store the file itself", "unsafe_path");
    }
    if (isDir) continue;
    if (sizes.has(name)) refuse(source, name, "appears twice in the zip", "re-create the .cavatar", "unsafe_path");
    if (info.flags & 0x1) refuse(source, name, "is encrypted", "store avatar members unencrypted", "corrupt_archive");
    sizes.set(name, info.fileSize);
    checkSizes(source, sizes, limits);
    files.push(info);
  }
  if (!files.length) refuse(source, null, "is an empty zip", "point at a .cavatar holding avatar.json", "not_a_package");
  return files;
}

let crcTable = null;

/** CRC-32 (zip's polynomial) of `bytes`. */
export function crc32(bytes) {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Inflate raw deflate `data`, stopping once more than `cap` bytes came out. */
async function inflateRaw(data, cap) {
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  const reader = stream.getReader();
  const parts = [];
  let length = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      length += value.length;
      if (length > cap) break;
    }
  } catch (err) {
    throw new BadZip(`Error -3 while decompressing data: ${err?.message ?? err}`);
  } finally {
    reader.cancel().catch(() => {});
  }
  const out = new Uint8Array(Math.min(length, cap));
  let at = 0;
  for (const part of parts) {
    const take = Math.min(part.length, out.length - at);
    out.set(part.subarray(0, take), at);
    at += take;
    if (at >= out.length) break;
  }
  return out;
}

export async function readMember(bytes, view, info, cap) {
  const at = info.headerOffset;
  if (at + 30 > bytes.length) throw new BadZip("Truncated file header");
  if (view.getUint32(at, true) !== 0x04034b50) throw new BadZip("Bad magic number for file header");
  const nameLength = view.getUint16(at + 26, true);
  const extraLength = view.getUint16(at + 28, true);
  const localName = decodeName(bytes.subarray(at + 30, at + 30 + nameLength), (info.flags & 0x800) !== 0);
  if (localName !== info.filename && localName.split("\0")[0] !== info.filename) {
    throw new BadZip(`File name in directory ${pyRepr(info.filename)} and header ${pyRepr(localName)} differ.`);
  }
  const start = at + 30 + nameLength + extraLength;
  const data = bytes.subarray(start, Math.min(start + info.compressSize, bytes.length));
  let out;
  if (info.method === 0) out = data.slice(0, cap);
  else if (info.method === 8) out = await inflateRaw(data, cap);
  else throw new BadZip("That compression method is not supported");
  if (out.length === info.fileSize && crc32(out) !== info.crc) {
    throw new BadZip(`Bad CRC-32 for file ${pyRepr(info.filename)}`);
  }
  return out;
}

/** Map member name -> bytes of a .cavatar, or AvatarRefused (codecav.assets.archive.read_package for a zip). */
export async function readPackage(bytes, source, limits = PACKAGE_LIMITS) {
  if (bytes.length > limits.maxTotalBytes + ZIP_OVERHEAD_BYTES) {
    tooLarge(source, null, bytes.length, limits.maxTotalBytes + ZIP_OVERHEAD_BYTES, "archive");
  }
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  let directory;
  try {
    directory = centralDirectory(bytes);
  } catch (err) {
    if (!(err instanceof BadZip)) throw err;
    if (magic === "PK\x03\x04" || magic === "PK\x05\x06") {
      refuse(source, null, `is a damaged or truncated zip (${err.message})`, FIX_AGAIN, "corrupt_archive");
    }
    refuse(source, null, "is neither a package directory nor a zip archive",
      "point at a package directory or a .cavatar file", "not_a_package");
  }
  const infos = checkedInfos(directory.infos, source, limits);
  const members = new Map();
  for (const info of infos) {
    let data;
    try {
      data = await readMember(bytes, directory.view, info, Math.min(info.fileSize, limits.maxMemberBytes) + 1);
    } catch (err) {
      if (!(err instanceof BadZip)) throw err;
      refuse(source, info.filename, `cannot be read (${err.message})`, FIX_AGAIN, "corrupt_archive");
    }
    if (data.length !== info.fileSize) {
      refuse(source, info.filename, `holds ${data.length} bytes but its header declares ${info.fileSize}`, FIX_AGAIN,
        "corrupt_archive");
    }
    members.set(info.filename, data);
  }
  return members;
}
