/**
 * Paragraphs of Debian's translated man pages (man-db, passwd, vim's xxd, procps' killall and pstree): real
 * text, for the CJK keyword search tests of both stores.
 */
export const CJK_TEXTS: Record<string, string> = {
  "zh/mandb.md":
    "mandb 用于初始化或手动更新 索引 数据库缓存。缓存包含与手册页系统当前状态相关的信息；保存在缓存中的这些信息被 man-db 工具用来提高速度和增强功能。",
  "zh/passwd.md":
    "由于粗心地或处理选择密码，会危及密码的安全。由于这个原因，您不应该选择出现在词典中或者必须要写下来才能记住的密码。",
  "ja/chsh.md":
    "chsh はユーザのログインシェルを変更する。 これによって、ユーザがログインして最初に実行されるコマンドが決まる。",
  "ja/xxd.md": "ファイルや標準入力から 16 進ダンプを作成します。 16 進ダンプから元のバイナリに戻すこともできます。",
  "ko/killall.md":
    "killall은 지정 명령에 일치하는 모든 실행 프로세스에 시그널을 보냅니다. 지정한 시그널 이름이 없다면 SIGTERM을 보냅니다.",
  "ko/pstree.md":
    "pstree 는 실행 프로세스를 트리 형식으로 나타냅니다. pid 값을 생략하면 pid 또는 init를 뿌리로 둡니다.",
  "en/chsh.md": "The chsh command changes the user login shell.",
};
