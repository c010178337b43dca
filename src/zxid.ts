// Placeholder until the checked zxid helper lands (branch quorumwire).
export const makeZxid = (epoch: number, counter: number): number => epoch * 0x1_0000_0000 + counter;
export const epochOf = (zxid: number): number => Math.floor(zxid / 0x1_0000_0000);
export const counterOf = (zxid: number): number => zxid % 0x1_0000_0000;
export const zxidHex = (zxid: number): string => `0x${zxid.toString(16)}`;
