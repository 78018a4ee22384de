import { isRejectedValue } from '../../src/platform/db/errors';
import { isExactNumber, MAX_JSON_DEPTH, refuseJson } from '../../src/platform/http/json-body';
import { toProblem } from '../../src/platform/http/problem';

describe('refuseJson: what no JSON body may carry', () => {
  test('ordinary bodies pass', () => {
    expect(refuseJson('{"a":[1,-2,3.5,1e3,0.1,{"b":"x\\\\u0000y \\"q\\" 12345678901234567890"}],"n":null}')).toBeUndefined();
    expect(refuseJson(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`)).toBeUndefined();
  });

  test('nesting past the bound', () => {
    expect(refuseJson(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`)).toMatch(/nested deeper than 32/);
    expect(refuseJson('{"d":'.repeat(60_000))).toMatch(/nested/);
  });

  test('a NUL character, escaped in any case', () => {
    expect(refuseJson('{"to":"a\\u0000b"}')).toMatch(/NUL/);
    expect(refuseJson('["\\u0000"]')).toMatch(/NUL/);
  });

  test('numbers a double cannot hold exactly', () => {
    expect(refuseJson('{"n":9007199254740993}')).toMatch(/cannot be represented exactly/);
    expect(refuseJson('{"n":-9007199254740992}')).toMatch(/cannot be represented exactly/);
    expect(refuseJson('[1e400]')).toMatch(/exactly/);
    expect(refuseJson('[0.10000000000000000001]')).toMatch(/exactly/);
    for (const ok of ['9007199254740991', '-9007199254740991', '0', '-0', '0.1', '1.50', '2.5e-7', '1E21', '100e-2']) {
      expect(isExactNumber(ok)).toBe(true);
    }
  });
});

test('a value Postgres refuses (SQLSTATE class 22) is the client\'s 400, never a 500', () => {
  expect(isRejectedValue({ code: '22P05' })).toBe(true); // untranslatable character (NUL in jsonb)
  expect(isRejectedValue({ code: '22021' })).toBe(true); // invalid byte sequence (NUL in text)
  expect(isRejectedValue({ code: '23505' })).toBe(false);
  expect(toProblem(Object.assign(new Error('unsupported Unicode escape sequence'), { code: '22P05' })).status).toBe(400);
});
