/**
 * Compiles the bytecode of a "size"-optimised PEG.js parser (the form SIP.js ships its SIP grammar in, see
 * sip-grammar.ts) into JavaScript: one function per rule, doing what the generated file's interpreter
 * (`peg$parseRule`) does for that rule's bytecode, instruction for instruction, without decoding and dispatching
 * each instruction at run time.
 *
 * The interpreter keeps a value stack in an array. Its depth at every instruction is known before running (PEG.js
 * emits bytecode whose two branches of a condition leave the stack equally deep, and whose loop bodies leave it as
 * they found it), so here each stack slot is a local variable s0, s1, …, and each instruction becomes a statement
 * on those variables. Conditions and loops become `if`/`while` around the code of their blocks. A bytecode that
 * breaks that discipline, or an instruction this does not know, is refused (compileRules throws), never guessed.
 *
 * The generated code refers to the same names as the interpreter: peg$consts, peg$FAILED, peg$currPos,
 * peg$savedPos, peg$silentFails, peg$fail, input. It is meant to be placed where the interpreter was.
 */

/** The instructions, as numbered in the interpreter's switch. */
const OP = {
  PUSH: 0,
  PUSH_UNDEFINED: 1,
  PUSH_NULL: 2,
  PUSH_FAILED: 3,
  PUSH_EMPTY_ARRAY: 4,
  PUSH_CURR_POS: 5,
  POP: 6,
  POP_CURR_POS: 7,
  POP_N: 8,
  NIP: 9,
  APPEND: 10,
  WRAP: 11,
  TEXT: 12,
  IF: 13,
  IF_ERROR: 14,
  IF_NOT_ERROR: 15,
  WHILE_NOT_ERROR: 16,
  MATCH_ANY: 17,
  MATCH_STRING: 18,
  MATCH_STRING_IC: 19,
  MATCH_REGEXP: 20,
  ACCEPT_N: 21,
  ACCEPT_STRING: 22,
  FAIL: 23,
  LOAD_SAVED_POS: 24,
  UPDATE_SAVED_POS: 25,
  CALL: 26,
  RULE: 27,
  SILENT_FAILS_ON: 28,
  SILENT_FAILS_OFF: 29,
} as const;

/** ruleName is the name of the function compiled for rule index i. */
export const ruleName = (i: number): string => `peg$rule${i}`;

/**
 * compileRules returns the source of one function per rule (named by ruleName) and of `peg$rules`, the array of
 * them by index. Throws naming the rule and instruction it cannot compile.
 */
export function compileRules(bytecode: readonly (readonly number[])[]): string {
  const out: string[] = [];
  bytecode.forEach((bc, i) => out.push(compileRule(bc, i)));
  out.push(`const peg$rules = [${bytecode.map((_, i) => ruleName(i)).join(', ')}];`);
  return out.join('\n');
}

function compileRule(bc: readonly number[], index: number): string {
  let sp = -1;
  let maxSp = -1;
  const fail = (ip: number, why: string): never => {
    throw new Error(`PEG bytecode of rule ${index}, instruction ${ip} (op ${bc[ip]}): ${why}`);
  };
  const s = (i: number): string => {
    if (i < 0) throw new Error(`PEG bytecode of rule ${index}: stack underflow`);
    return `s${i}`;
  };
  const push = (expr: string): string => {
    sp++;
    maxSp = Math.max(maxSp, sp);
    return `${s(sp)} = ${expr};`;
  };

  const block = (start: number, end: number): string[] => {
    const code: string[] = [];
    let ip = start;
    const condition = (cond: string, header: number): void => {
      const thenLen = bc[ip + header - 2]!;
      const elseLen = bc[ip + header - 1]!;
      const at = ip;
      const base = sp;
      const thenStart = ip + header;
      const thenCode = block(thenStart, thenStart + thenLen);
      const thenSp = sp;
      sp = base;
      const elseCode = block(thenStart + thenLen, thenStart + thenLen + elseLen);
      if (sp !== thenSp) fail(at, `branches leave the stack at ${thenSp} and ${sp}`);
      code.push(`if (${cond}) {`, ...thenCode, '} else {', ...elseCode, '}');
      ip = thenStart + thenLen + elseLen;
    };
    while (ip < end) {
      const op = bc[ip];
      switch (op) {
        case OP.PUSH: code.push(push(`peg$consts[${bc[ip + 1]}]`)); ip += 2; break;
        case OP.PUSH_UNDEFINED: code.push(push('undefined')); ip++; break;
        case OP.PUSH_NULL: code.push(push('null')); ip++; break;
        case OP.PUSH_FAILED: code.push(push('peg$FAILED')); ip++; break;
        case OP.PUSH_EMPTY_ARRAY: code.push(push('[]')); ip++; break;
        case OP.PUSH_CURR_POS: code.push(push('peg$currPos')); ip++; break;
        case OP.POP: s(sp); sp--; ip++; break;
        case OP.POP_CURR_POS: code.push(`peg$currPos = ${s(sp)};`); sp--; ip++; break;
        case OP.POP_N:
          sp -= bc[ip + 1]!;
          if (sp < -1) fail(ip, 'stack underflow');
          ip += 2;
          break;
        case OP.NIP: code.push(`${s(sp - 1)} = ${s(sp)};`); sp--; ip++; break;
        case OP.APPEND: code.push(`${s(sp - 1)}.push(${s(sp)});`); sp--; ip++; break;
        case OP.WRAP: {
          const n = bc[ip + 1]!;
          const items = Array.from({ length: n }, (_, k) => s(sp - n + 1 + k));
          sp -= n;
          code.push(push(`[${items.join(', ')}]`));
          ip += 2;
          break;
        }
        case OP.TEXT: code.push(`${s(sp)} = input.substring(${s(sp)}, peg$currPos);`); ip++; break;
        case OP.IF: condition(s(sp), 3); break;
        case OP.IF_ERROR: condition(`${s(sp)} === peg$FAILED`, 3); break;
        case OP.IF_NOT_ERROR: condition(`${s(sp)} !== peg$FAILED`, 3); break;
        case OP.WHILE_NOT_ERROR: {
          const at = ip;
          const base = sp;
          const body = block(ip + 2, ip + 2 + bc[ip + 1]!);
          if (sp !== base) fail(at, `loop body moves the stack from ${base} to ${sp}`);
          code.push(`while (${s(sp)} !== peg$FAILED) {`, ...body, '}');
          ip += 2 + bc[ip + 1]!;
          break;
        }
        case OP.MATCH_ANY: condition('input.length > peg$currPos', 3); break;
        case OP.MATCH_STRING: {
          const c = bc[ip + 1];
          condition(`input.substr(peg$currPos, peg$consts[${c}].length) === peg$consts[${c}]`, 4);
          break;
        }
        case OP.MATCH_STRING_IC: {
          const c = bc[ip + 1];
          condition(`input.substr(peg$currPos, peg$consts[${c}].length).toLowerCase() === peg$consts[${c}]`, 4);
          break;
        }
        case OP.MATCH_REGEXP: condition(`peg$consts[${bc[ip + 1]}].test(input.charAt(peg$currPos))`, 4); break;
        case OP.ACCEPT_N: {
          const n = bc[ip + 1]!;
          code.push(push(`input.substr(peg$currPos, ${n})`), `peg$currPos += ${n};`);
          ip += 2;
          break;
        }
        case OP.ACCEPT_STRING: {
          const c = bc[ip + 1];
          code.push(push(`peg$consts[${c}]`), `peg$currPos += peg$consts[${c}].length;`);
          ip += 2;
          break;
        }
        case OP.FAIL: code.push(push('peg$FAILED'), `if (peg$silentFails === 0) { peg$fail(peg$consts[${bc[ip + 1]}]); }`); ip += 2; break;
        case OP.LOAD_SAVED_POS: code.push(`peg$savedPos = ${s(sp - bc[ip + 1]!)};`); ip += 2; break;
        case OP.UPDATE_SAVED_POS: code.push('peg$savedPos = peg$currPos;'); ip++; break;
        case OP.CALL: {
          const [f, popN, n] = [bc[ip + 1]!, bc[ip + 2]!, bc[ip + 3]!];
          const args = bc.slice(ip + 4, ip + 4 + n).map((p) => s(sp - p));
          sp -= popN;
          code.push(push(`peg$consts[${f}](${args.join(', ')})`));
          ip += 4 + n;
          break;
        }
        case OP.RULE: code.push(push(`${ruleName(bc[ip + 1]!)}()`)); ip += 2; break;
        case OP.SILENT_FAILS_ON: code.push('peg$silentFails++;'); ip++; break;
        case OP.SILENT_FAILS_OFF: code.push('peg$silentFails--;'); ip++; break;
        default: fail(ip, 'unknown instruction');
      }
    }
    if (ip !== end) fail(ip, `block overruns its end ${end}`);
    return code;
  };

  const code = block(0, bc.length);
  if (sp !== 0) throw new Error(`PEG bytecode of rule ${index}: ends with ${sp + 1} values on the stack, not 1`);
  const vars = Array.from({ length: maxSp + 1 }, (_, i) => s(i)).join(', ');
  return [`function ${ruleName(index)}() {`, `let ${vars};`, ...code, 'return s0;', '}'].join('\n');
}
