import { describe, expect, it } from 'vitest';
import { parseParams } from '../../../src/transport/params.ts';

describe('parseParams (Plug-style query decoding)', () => {
  it('decodes flat and bracketed names into nested objects', () => {
    expect(parseParams('a=1&user%5Bid%5D=7')).toEqual({ a: '1', user: { id: '7' } });
  });

  it('merges several keys of one nested object and deeper levels', () => {
    expect(parseParams('user[id]=7&user[name]=ann&user[meta][x]=1')).toEqual({ user: { id: '7', name: 'ann', meta: { x: '1' } } });
  });

  it('collects name[]= values into an array', () => {
    expect(parseParams('list[]=a&list[]=b')).toEqual({ list: ['a', 'b'] });
  });

  it("ignores empty segments such as phoenix.js's trailing &", () => {
    expect(parseParams('a=1&&vsn=2.0.0&')).toEqual({ a: '1', vsn: '2.0.0' });
  });

  it('omits the names it is told to (transport params)', () => {
    expect(parseParams('vsn=2.0.0&token=t&a=1', new Set(['vsn', 'token']))).toEqual({ a: '1' });
  });

  it('refuses prototype-polluting names', () => {
    const params = parseParams('__proto__[x]=1&a[constructor]=2&b=3');
    expect(params).toEqual({ a: {}, b: '3' });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('skips ill-formed bracket names', () => {
    expect(parseParams('a[b=1&c=2')).toEqual({ c: '2' });
  });
});
