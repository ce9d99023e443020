// What libcurl's verbose text costs on multiplexed HTTP/2 (README,
// "What HTTP/2's verbose text costs"): N GETs, C at a time, on one h2c
// connection, with or without CURLOPT_VERBOSE and a debug callback that
// looks for the lines the engine reads (engine/curl_h2_signals.h).
//
//   cc -O2 -o verbose_cost bench/h2/verbose_cost.c -lcurl
//   # an h2c origin, e.g. nginx: listen 127.0.0.1:18931 http2; return 200 "ok\n";
//   valgrind --tool=callgrind ./verbose_cost http://127.0.0.1:18931/ 1000 64 0   # and 3000, and 1
//   (instructions per request: the difference between the 3000 and 1000 runs / 2000)
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
static long lines;
static int dbg(CURL*e, curl_infotype t, char*d, size_t n, void*u){
  if(t!=CURLINFO_TEXT) return 0;
  if(n>=14 && (d[0]=='R'||d[0]=='r'||d[0]=='U'||d[0]=='M'||d[0]=='W')) {
    if(!strncmp(d,"REFUSED_STREAM",14)||!strncmp(d,"recveived GOAWAY",16)||!strncmp(d,"Using Stream ID: ",17)) lines++;
  }
  return 0;}
static size_t wr(char*p,size_t s,size_t n,void*u){return s*n;}
static CURL* mk(CURLSH*sh,const char*url,long v,int verbose){CURL*e=curl_easy_init();curl_easy_setopt(e,CURLOPT_URL,url);
  curl_easy_setopt(e,CURLOPT_HTTP_VERSION,v);curl_easy_setopt(e,CURLOPT_PIPEWAIT,1L);
  curl_easy_setopt(e,CURLOPT_WRITEFUNCTION,wr);curl_easy_setopt(e,CURLOPT_SHARE,sh);
  if(verbose){curl_easy_setopt(e,CURLOPT_VERBOSE,1L);curl_easy_setopt(e,CURLOPT_DEBUGFUNCTION,dbg);}
  return e;}
static double cpu(){struct rusage r;getrusage(RUSAGE_SELF,&r);return r.ru_utime.tv_sec+r.ru_utime.tv_usec/1e6+r.ru_stime.tv_sec+r.ru_stime.tv_usec/1e6;}
int main(int argc,char**argv){
  const char*url=argv[1]; int total=atoi(argv[2]), conc=atoi(argv[3]), verbose=atoi(argv[4]);
  CURLSH*sh=curl_share_init(); curl_share_setopt(sh,CURLSHOPT_SHARE,CURL_LOCK_DATA_CONNECT);
  CURLM*m=curl_multi_init(); curl_multi_setopt(m,CURLMOPT_PIPELINING,CURLPIPE_MULTIPLEX);
  CURL*first=mk(sh,url,CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE,verbose); curl_multi_add_handle(m,first);
  int running=1; while(running){curl_multi_perform(m,&running); curl_multi_poll(m,NULL,0,100,NULL);}
  CURLMsg*msg;int q; while((msg=curl_multi_info_read(m,&q))) curl_multi_remove_handle(m,msg->easy_handle);
  CURL**h=calloc(conc,sizeof(CURL*)); for(int i=0;i<conc;i++) h[i]=mk(sh,url,CURL_HTTP_VERSION_2_0,verbose);
  double c0=cpu(); int started=0,done=0,bad=0;
  for(int i=0;i<conc&&started<total;i++,started++) curl_multi_add_handle(m,h[i]);
  while(done<total){curl_multi_perform(m,&running); curl_multi_poll(m,NULL,0,100,NULL);
    while((msg=curl_multi_info_read(m,&q))){ if(msg->data.result) bad++; done++; CURL*e=msg->easy_handle; curl_multi_remove_handle(m,e);
      if(started<total){curl_multi_add_handle(m,e);started++;}}}
  double c1=cpu();
  printf("verbose=%d requests=%d bad=%d cpu=%.3fs per_request=%.1fus lines=%ld\n",verbose,total,bad,c1-c0,(c1-c0)/total*1e6,lines);
}
